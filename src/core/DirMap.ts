import type { Entry } from './Entry.js';
import { nodeVisits } from './nodeVisits.js';

/**
 * A directory's entries: a persistent hash array mapped trie (HAMT) from name to `Entry`.
 *
 * Why a HAMT: adding, changing or removing one entry of a 100,000-entry directory copies
 * O(log₃₂ n) nodes, never the whole directory; and its shape depends only on the set of names, not
 * on the order they came in, so two equal directories have equal shapes and `dirMapChanges` can
 * skip every shared node. The price: names come out in hash order, so `readdir` sorts (O(n log n)).
 *
 * Invariants: every node has at least two slots, or is the root (a root with one leaf is allowed);
 * a node holding a single leaf is collapsed into its parent; names that share all 32 hash bits sit
 * in a collision node at depth 7. `size`, `dirs` and `links` aggregate the subtree so emptiness,
 * `nlink` of a directory and "holds hard links below" cost O(1). The empty map is `null`.
 *
 * Memory: a leaf costs ~48 bytes plus its name and entry; a node ~56 bytes plus 8 per slot.
 */
export type DirMap = DirMapNode | null;

export interface DirMapLeaf {
  readonly name: string;
  readonly entry: Entry;
}

export interface DirMapNode {
  /** Bit k set ⇔ a slot for hash chunk k exists; slots are in bit order. 0 in a collision node. */
  readonly bitmap: number;
  readonly slots: readonly (DirMapLeaf | DirMapNode)[];
  /** Entries in the subtree. */
  readonly size: number;
  /** Entries in the subtree that are directories. */
  readonly dirs: number;
  /** Link references in the subtree, counting those inside directory entries too. */
  readonly links: number;
}

const BITS = 5;
const MAX_SHIFT = 35;

/** FNV-1a over UTF-16 code units: fast, and spreads short similar names well. */
function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

export function isNode(slot: DirMapLeaf | DirMapNode): slot is DirMapNode {
  return (slot as DirMapNode).bitmap !== undefined;
}

/** Link references an entry holds: 1 for a `LinkRef`, those below for a directory. */
function linksIn(entry: Entry): number {
  if (entry.type === 'link') return 1;
  return entry.type === 'dir' ? dirMapLinks(entry.entries) : 0;
}

/** A node with its aggregates computed: how nodes are made, here and when loaded from disk. */
export function makeNode(bitmap: number, slots: (DirMapLeaf | DirMapNode)[]): DirMapNode {
  let size = 0;
  let dirs = 0;
  let links = 0;
  for (const slot of slots) {
    if (isNode(slot)) {
      size += slot.size;
      dirs += slot.dirs;
      links += slot.links;
    } else {
      size++;
      if (slot.entry.type === 'dir') dirs++;
      links += linksIn(slot.entry);
    }
  }
  return { bitmap, slots, size, dirs, links };
}

export function dirMapSize(map: DirMap): number {
  return map === null ? 0 : map.size;
}

/** Entries that are directories: a directory's `nlink` is 2 plus this. */
export function dirMapDirs(map: DirMap): number {
  return map === null ? 0 : map.dirs;
}

export function dirMapLinks(map: DirMap): number {
  return map === null ? 0 : map.links;
}

export function dirMapGet(map: DirMap, name: string): Entry | undefined {
  const hash = hashName(name);
  let node = map;
  for (let shift = 0; node !== null; shift += BITS) {
    nodeVisits.count++;
    let slot: DirMapLeaf | DirMapNode | undefined;
    if (node.bitmap === 0) {
      slot = node.slots.find((s) => !isNode(s) && s.name === name);
    } else {
      const bit = 1 << ((hash >>> shift) & 31);
      if ((node.bitmap & bit) === 0) return undefined;
      slot = node.slots[popcount(node.bitmap & (bit - 1))];
    }
    if (slot === undefined) return undefined;
    if (!isNode(slot)) return slot.name === name ? slot.entry : undefined;
    node = slot;
  }
  return undefined;
}

/** A map with `name` set to `entry` (added or replaced). */
export function dirMapSet(map: DirMap, name: string, entry: Entry): DirMapNode {
  return insert(map, { name, entry }, hashName(name), 0);
}

function insert(node: DirMap, leaf: DirMapLeaf, hash: number, shift: number): DirMapNode {
  if (node === null) return pair(leaf, hash, undefined, 0, shift);
  if (node.bitmap === 0) {
    const slots = node.slots.filter((s) => (s as DirMapLeaf).name !== leaf.name);
    return makeNode(0, [...slots, leaf]);
  }
  const bit = 1 << ((hash >>> shift) & 31);
  const index = popcount(node.bitmap & (bit - 1));
  const slots = node.slots.slice();
  if ((node.bitmap & bit) === 0) {
    slots.splice(index, 0, leaf);
    return makeNode(node.bitmap | bit, slots);
  }
  const slot = slots[index]!;
  if (isNode(slot)) slots[index] = insert(slot, leaf, hash, shift + BITS);
  else if (slot.name === leaf.name) slots[index] = leaf;
  else slots[index] = pair(leaf, hash, slot, hashName(slot.name), shift + BITS);
  return makeNode(node.bitmap, slots);
}

/** The smallest subtree holding `a` (and `b` when given), both starting at `shift`. */
function pair(a: DirMapLeaf, hashA: number, b: DirMapLeaf | undefined, hashB: number, shift: number): DirMapNode {
  if (b === undefined) return makeNode(1 << ((hashA >>> shift) & 31), [a]);
  if (shift >= MAX_SHIFT) return makeNode(0, [a, b]);
  const chunkA = (hashA >>> shift) & 31;
  const chunkB = (hashB >>> shift) & 31;
  if (chunkA === chunkB) return makeNode(1 << chunkA, [pair(a, hashA, b, hashB, shift + BITS)]);
  return makeNode((1 << chunkA) | (1 << chunkB), chunkA < chunkB ? [a, b] : [b, a]);
}

/** A map without `name` (the same map when it had no such name). */
export function dirMapDelete(map: DirMap, name: string): DirMap {
  if (map === null) return null;
  const result = remove(map, name, hashName(name), 0);
  if (result === null || isNode(result)) return result;
  return dirMapSet(null, result.name, result.entry);
}

/** The node without `name`; `null` when it ends up empty; a lone leaf is returned for collapsing. */
function remove(node: DirMapNode, name: string, hash: number, shift: number): DirMapNode | DirMapLeaf | null {
  if (node.bitmap === 0) {
    const slots = node.slots.filter((s) => (s as DirMapLeaf).name !== name);
    if (slots.length === node.slots.length) return node;
    return slots.length === 1 ? slots[0]! : makeNode(0, slots);
  }
  const bit = 1 << ((hash >>> shift) & 31);
  if ((node.bitmap & bit) === 0) return node;
  const index = popcount(node.bitmap & (bit - 1));
  const slot = node.slots[index]!;
  let replacement: DirMapNode | DirMapLeaf | null;
  if (isNode(slot)) {
    replacement = remove(slot, name, hash, shift + BITS);
    if (replacement === slot) return node;
  } else {
    if (slot.name !== name) return node;
    replacement = null;
  }
  const slots = node.slots.slice();
  let bitmap = node.bitmap;
  if (replacement === null) {
    slots.splice(index, 1);
    bitmap &= ~bit;
  } else {
    slots[index] = replacement;
  }
  if (slots.length === 0) return null;
  if (slots.length === 1 && !isNode(slots[0]!)) return shift === 0 ? makeNode(bitmap, slots) : slots[0]!;
  return makeNode(bitmap, slots);
}

/** Every entry, in hash order (not sorted). */
export function* dirMapEntries(map: DirMap): Generator<DirMapLeaf> {
  if (map === null) return;
  for (const slot of map.slots) {
    if (isNode(slot)) yield* dirMapEntries(slot);
    else yield slot;
  }
}

/** One name whose entry differs between two maps; `before` or `after` is undefined when absent. */
export interface DirMapChange {
  readonly name: string;
  readonly before: Entry | undefined;
  readonly after: Entry | undefined;
}

/**
 * Names whose entries differ between `before` and `after`, skipping every node the two share.
 * With `descendIntoLinks`, nodes holding link references are walked even when shared (their
 * targets may have changed in the link table) and their link entries are reported as changes for
 * the caller to compare. Cost: O(changes × depth) plus, with `descendIntoLinks`, the link-bearing
 * nodes.
 */
export function* dirMapChanges(before: DirMap, after: DirMap, descendIntoLinks: boolean): Generator<DirMapChange> {
  yield* compareSlots(before, after, 0, descendIntoLinks);
}

function* compareSlots(a: DirMap, b: DirMap, shift: number, links: boolean): Generator<DirMapChange> {
  if (a === b && !(links && dirMapLinks(a) > 0)) return;
  if (a === null || b === null || a.bitmap === 0 || b.bitmap === 0 || shift >= MAX_SHIFT) {
    yield* compareFlat(a, b, links);
    return;
  }
  for (let chunk = 0; chunk < 32; chunk++) {
    const bit = 1 << chunk;
    const sa = (a.bitmap & bit) === 0 ? undefined : a.slots[popcount(a.bitmap & (bit - 1))];
    const sb = (b.bitmap & bit) === 0 ? undefined : b.slots[popcount(b.bitmap & (bit - 1))];
    if (sa === undefined && sb === undefined) continue;
    if (sa !== undefined && sb !== undefined && isNode(sa) && isNode(sb)) {
      yield* compareSlots(sa, sb, shift + BITS, links);
    } else if (sa !== sb || (links && sa !== undefined && linksInSlot(sa) > 0)) {
      yield* compareFlat(asMap(sa), asMap(sb), links);
    }
  }
}

function linksInSlot(slot: DirMapLeaf | DirMapNode): number {
  return isNode(slot) ? slot.links : linksIn(slot.entry);
}

function asMap(slot: DirMapLeaf | DirMapNode | undefined): DirMap {
  if (slot === undefined) return null;
  return isNode(slot) ? slot : makeNode(0, [slot]);
}

function* compareFlat(a: DirMap, b: DirMap, links: boolean): Generator<DirMapChange> {
  const left = new Map<string, Entry>();
  for (const leaf of dirMapEntries(a)) left.set(leaf.name, leaf.entry);
  for (const leaf of dirMapEntries(b)) {
    const previous = left.get(leaf.name);
    left.delete(leaf.name);
    if (previous !== leaf.entry || (links && linksIn(leaf.entry) > 0)) {
      yield { name: leaf.name, before: previous, after: leaf.entry };
    }
  }
  for (const [name, entry] of left) yield { name, before: entry, after: undefined };
}
