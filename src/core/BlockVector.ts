import type { BlockId } from './BlockId.js';
import { nodeVisits } from './nodeVisits.js';

/** A block of a file: its content id, or `null` for a hole (all zeros, never stored). */
export type BlockRef = BlockId | null;

/** Slots per node: a 1 GiB file of 4 KiB blocks is a tree of height 2 (64³ = 262,144 blocks). */
export const VECTOR_FANOUT = 64;

/**
 * A node of a file's block list. Leaves (height 0) hold `BlockRef`s, inner nodes hold child nodes
 * or `null` where the whole subtree is a hole. Nodes are immutable and shared between snapshots;
 * every node has exactly `VECTOR_FANOUT` slots. Memory: 64 slots × 8 bytes + ~40 bytes header per
 * node, so about 9 bytes per block on top of the ids themselves.
 */
export interface VectorNode {
  readonly slots: readonly (BlockRef | VectorNode)[];
}

/**
 * A file's block list: a persistent radix tree (as a Clojure vector or a ZFS indirect-block tree).
 *
 * Invariants: the root covers `VECTOR_FANOUT ** (height + 1)` blocks; a subtree that is all holes
 * is `null`; the height is the smallest that covers the highest non-hole block (so two vectors
 * with the same blocks have the same shape). Changing one block copies `height + 1` nodes:
 * O(log n) metadata for any file size.
 */
export interface BlockVector {
  readonly height: number;
  readonly root: VectorNode | null;
}

export const EMPTY_VECTOR: BlockVector = { height: 0, root: null };

function span(height: number): number {
  return VECTOR_FANOUT ** height;
}

function capacity(height: number): number {
  return VECTOR_FANOUT ** (height + 1);
}

/** The block at `index` (`null` when it is a hole or beyond the end). */
export function vectorGet(vector: BlockVector, index: number): BlockRef {
  if (index >= capacity(vector.height)) return null;
  let node = vector.root;
  for (let height = vector.height; node !== null; height--) {
    nodeVisits.count++;
    const slot = node.slots[Math.floor(index / span(height)) % VECTOR_FANOUT] ?? null;
    if (height === 0) return slot as BlockRef;
    node = slot as VectorNode | null;
  }
  return null;
}

/** The blocks of `[start, end)`, in order, holes included. */
export function vectorRange(vector: BlockVector, start: number, end: number): BlockRef[] {
  const out: BlockRef[] = new Array<BlockRef>(Math.max(0, end - start)).fill(null);
  const visit = (node: VectorNode | null, height: number, base: number): void => {
    if (node === null) return;
    nodeVisits.count++;
    const step = span(height);
    const first = Math.max(0, Math.floor((start - base) / step));
    const last = Math.min(VECTOR_FANOUT - 1, Math.floor((end - 1 - base) / step));
    for (let k = first; k <= last; k++) {
      const slot = node.slots[k] ?? null;
      const at = base + k * step;
      if (height === 0) out[at - start] = slot as BlockRef;
      else visit(slot as VectorNode | null, height - 1, at);
    }
  };
  if (end > start) visit(vector.root, vector.height, 0);
  return out;
}

/**
 * Sets blocks; `updates` are `[index, ref]` pairs in ascending index order, each index once.
 * Every node on the way to an update is copied once, however many updates it holds.
 */
export function vectorSet(vector: BlockVector, updates: readonly (readonly [number, BlockRef])[]): BlockVector {
  if (updates.length === 0) return vector;
  const highest = updates[updates.length - 1]![0];
  let height = vector.height;
  while (highest >= capacity(height)) height++;
  const root = lift(vector, height);
  const write = (node: VectorNode | null, h: number, base: number, lo: number, hi: number): VectorNode | null => {
    const slots = node === null ? new Array<BlockRef | VectorNode>(VECTOR_FANOUT).fill(null) : node.slots.slice();
    const step = span(h);
    let i = lo;
    while (i < hi) {
      const k = Math.floor((updates[i]![0] - base) / step);
      let j = i + 1;
      while (j < hi && Math.floor((updates[j]![0] - base) / step) === k) j++;
      slots[k] = h === 0 ? updates[i]![1] : write((slots[k] ?? null) as VectorNode | null, h - 1, base + k * step, i, j);
      i = j;
    }
    return slots.every((slot) => slot === null) ? null : { slots };
  };
  return shrink({ height, root: write(root, height, 0, 0, updates.length) });
}

/** Drops every block at `count` or beyond. */
export function vectorTruncate(vector: BlockVector, count: number): BlockVector {
  if (count >= capacity(vector.height)) return vector;
  if (count <= 0) return EMPTY_VECTOR;
  const cut = (node: VectorNode | null, h: number, base: number): VectorNode | null => {
    if (node === null || base + span(h + 1) <= count) return node;
    const step = span(h);
    const slots = node.slots.map((slot, k) => {
      const at = base + k * step;
      if (at >= count) return null;
      if (h === 0 || at + step <= count) return slot;
      return cut(slot as VectorNode | null, h - 1, at);
    });
    return slots.every((slot) => slot === null) ? null : { slots };
  };
  return shrink({ height: vector.height, root: cut(vector.root, vector.height, 0) });
}

/** Lowers the height while only the first slot of the root is used: one shape per content. */
function shrink(vector: BlockVector): BlockVector {
  let { height, root } = vector;
  if (root === null) return EMPTY_VECTOR;
  while (height > 0 && root !== null && root.slots.every((slot, k) => k === 0 || slot === null)) {
    root = root.slots[0] as VectorNode | null;
    height--;
  }
  return root === null ? EMPTY_VECTOR : { height, root };
}

/** Calls `visit` for every non-hole block, in index order. */
export function vectorForEach(vector: BlockVector, visit: (index: number, id: BlockId) => void): void {
  const walk = (node: VectorNode | null, h: number, base: number): void => {
    if (node === null) return;
    const step = span(h);
    node.slots.forEach((slot, k) => {
      if (slot === null) return;
      if (h === 0) visit(base + k, slot as BlockId);
      else walk(slot as VectorNode, h - 1, base + k * step);
    });
  };
  walk(vector.root, vector.height, 0);
}

/**
 * Calls `visit` for every block of `after` that differs from the block at the same index of
 * `before`, skipping subtrees the two share: O(changes × height), not O(size).
 */
export function vectorChanges(before: BlockVector, after: BlockVector, visit: (index: number, id: BlockRef) => void): void {
  if (before.root === after.root && before.height === after.height) return;
  const height = Math.max(before.height, after.height);
  const walk = (a: VectorNode | null, b: VectorNode | null, h: number, base: number): void => {
    if (a === b) return;
    const step = span(h);
    for (let k = 0; k < VECTOR_FANOUT; k++) {
      const sa = a === null ? null : a.slots[k] ?? null;
      const sb = b === null ? null : b.slots[k] ?? null;
      if (sa === sb) continue;
      if (h === 0) visit(base + k, sb as BlockRef);
      else walk(sa as VectorNode | null, sb as VectorNode | null, h - 1, base + k * step);
    }
  };
  walk(lift(before, height), lift(after, height), height, 0);
}

/** The root of `vector` wrapped in first slots until it has `height`: the same blocks, taller. */
function lift(vector: BlockVector, height: number): VectorNode | null {
  let root = vector.root;
  for (let h = vector.height; h < height && root !== null; h++) {
    root = { slots: [root, ...new Array<null>(VECTOR_FANOUT - 1).fill(null)] };
  }
  return root;
}

/** True when both vectors hold the same blocks at the same indexes. */
export function vectorEquals(a: BlockVector, b: BlockVector): boolean {
  let same = true;
  vectorChanges(a, b, () => {
    same = false;
  });
  return same;
}
