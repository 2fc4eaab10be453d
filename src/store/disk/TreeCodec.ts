import { parseBlockId, type BlockId } from '../../core/BlockId.js';
import type { BlockVector, VectorNode } from '../../core/BlockVector.js';
import { VECTOR_FANOUT } from '../../core/BlockVector.js';
import { isNode, makeNode, type DirMap, type DirMapLeaf, type DirMapNode } from '../../core/DirMap.js';
import type { Entry } from '../../core/Entry.js';
import { fsError } from '../../core/errors.js';
import type { Tree } from '../../core/Tree.js';
import type { PackRecord } from './PackStore.js';
import { recordId } from './packFormat.js';

/** The first byte of a tree record (`T`): what tells a tree's root from the nodes below it. */
const TREE_TAG = 0x54;

/**
 * True when `payload`, a node record's, is a tree record: the root of one snapshot's tree. Only a
 * catalog refers to a tree record (no node does), so every one found in the packs is a tree some
 * catalog named, or was about to name, when it was written. How a lost catalog is found again.
 */
export function isTreeRecord(payload: Uint8Array): boolean {
  return payload[0] === TREE_TAG;
}

/**
 * Trees on disk: every directory-map node, block-vector node and tree root is a record of kind
 * `node`, stored under the SHA-256 of its encoding (first byte inverted: see `recordId`), and
 * refers to its children by their ids: a
 * Merkle tree, as git's objects or ZFS's block pointers. Two snapshots that share a subtree share
 * its records; a commit writes only the nodes it changed (O(changes × depth)); a tree is named by
 * one id.
 *
 * Encodings (little-endian; `ref` is u8 0 for none or u8 1 and a 32-byte id):
 *
 *   tree   := 'T' f64:nextIno entry:root ref:links
 *   dirmap := 'D' u32:bitmap u16:count slot*        slot := u8:0 id | u8:1 str16:name entry
 *   vector := 'V' u8:height u32:presentLow u32:presentHigh id*   (one id per present slot)
 *   entry  := u8:4 f64:ino                                          (a hard link's name)
 *           | u8:type f64:ino u32:mode u32:uid u32:gid f64:mtimeMs f64:ctimeMs u32:nlink body
 *   body   := f64:size u8:height ref:vector     (type 1, file)
 *           | ref:dirmap                         (type 2, directory)
 *           | str32:target                       (type 3, symbolic link)
 *
 * `nlink` is 0 for an inline record and the link count for one in the link table.
 */
export class TreeCodec {
  /** Node object → the id of its stored record. Set only once the record is stored. */
  readonly #ids = new WeakMap<object, BlockId>();

  /**
   * Encodes every node of `tree` not stored yet. Resolves to the tree's id, the records to store,
   * and `stored()`, to call once they are: until then the nodes count as not stored, so a failed
   * write is simply redone by the next call.
   */
  encode(tree: Tree): { id: BlockId; records: PackRecord[]; stored: () => void } {
    const fresh = new Map<object, BlockId>();
    const records: PackRecord[] = [];
    const emit = (node: object, bytes: Buffer): BlockId => {
      const id = recordId('node', bytes);
      fresh.set(node, id);
      records.push({ kind: 'node', id, payload: bytes });
      return id;
    };
    const known = (node: object): BlockId | undefined => this.#ids.get(node) ?? fresh.get(node);
    const vectorId = (node: VectorNode, height: number): BlockId => {
      const done = known(node);
      if (done !== undefined) return done;
      const out = new ByteWriter();
      out.u8(0x56).u8(height);
      let low = 0;
      let high = 0;
      node.slots.forEach((slot, k) => {
        if (slot === null) return;
        if (k < 32) low |= 1 << k;
        else high |= 1 << (k - 32);
      });
      out.u32(low >>> 0).u32(high >>> 0);
      for (const slot of node.slots) {
        if (slot === null) continue;
        out.id(height === 0 ? (slot as BlockId) : vectorId(slot as VectorNode, height - 1));
      }
      return emit(node, out.done());
    };
    const mapId = (node: DirMapNode): BlockId => {
      const done = known(node);
      if (done !== undefined) return done;
      const out = new ByteWriter();
      out.u8(0x44).u32(node.bitmap >>> 0).u16(node.slots.length);
      const children = node.slots.map((slot) => (isNode(slot) ? mapId(slot) : undefined));
      node.slots.forEach((slot, k) => {
        const child = children[k];
        if (child !== undefined) {
          out.u8(0).id(child);
        } else if (!isNode(slot)) {
          out.u8(1).str16(slot.name);
          writeEntry(out, slot.entry);
        }
      });
      return emit(node, out.done());
    };
    const writeEntry = (out: ByteWriter, entry: Entry): void => {
      if (entry.type === 'link') {
        out.u8(4).f64(entry.ino);
        return;
      }
      const type = entry.type === 'file' ? 1 : entry.type === 'dir' ? 2 : 3;
      out.u8(type).f64(entry.ino).u32(entry.mode).u32(entry.uid).u32(entry.gid).f64(entry.mtimeMs).f64(entry.ctimeMs);
      out.u32('nlink' in entry ? entry.nlink : 0);
      if (entry.type === 'file') {
        out.f64(entry.size).u8(entry.blocks.height);
        out.ref(entry.blocks.root === null ? undefined : vectorId(entry.blocks.root, entry.blocks.height));
      } else if (entry.type === 'dir') {
        out.ref(entry.entries === null ? undefined : mapId(entry.entries));
      } else {
        out.str32(entry.target);
      }
    };
    let id = known(tree);
    if (id === undefined) {
      // Children first: each encoding needs the ids of what it refers to.
      const links = tree.links === null ? undefined : mapId(tree.links);
      const out = new ByteWriter();
      out.u8(TREE_TAG).f64(tree.nextIno);
      writeEntry(out, tree.root);
      out.ref(links);
      id = emit(tree, out.done());
    }
    return {
      id,
      records,
      stored: () => {
        for (const [node, nodeId] of fresh) this.#ids.set(node, nodeId);
      },
    };
  }

  /**
   * Loads tree `id`, reading records with `read`. Nodes already in `cache` (loaded for another
   * snapshot) are reused, so snapshots that share subtrees on disk share them in memory too.
   */
  async load(id: BlockId, read: (id: BlockId) => Promise<Uint8Array>, cache: Map<BlockId, object>): Promise<Tree> {
    const fetch = async <T extends object>(nodeId: BlockId, decode: (input: ByteReader) => Promise<T>): Promise<T> => {
      const cached = cache.get(nodeId);
      if (cached !== undefined) return cached as T;
      const node = await decode(new ByteReader(await read(nodeId), nodeId));
      cache.set(nodeId, node);
      this.#ids.set(node, nodeId);
      return node;
    };
    const vector = (nodeId: BlockId, height: number): Promise<VectorNode> =>
      fetch(nodeId, async (input) => {
        input.expect(0x56);
        if (input.u8() !== height) throw input.damaged('vector height does not match');
        const low = input.u32();
        const high = input.u32();
        const slots: (BlockId | VectorNode | null)[] = new Array(VECTOR_FANOUT).fill(null);
        const pending: Promise<void>[] = [];
        for (let k = 0; k < VECTOR_FANOUT; k++) {
          const present = k < 32 ? (low >>> k) & 1 : (high >>> (k - 32)) & 1;
          if (present === 0) continue;
          const child = input.id();
          if (height === 0) slots[k] = child;
          else pending.push(vector(child, height - 1).then((node) => void (slots[k] = node)));
        }
        await Promise.all(pending);
        return { slots };
      });
    const map = (nodeId: BlockId): Promise<DirMapNode> =>
      fetch(nodeId, async (input) => {
        input.expect(0x44);
        const bitmap = input.u32() | 0;
        const count = input.u16();
        const slots: (DirMapLeaf | DirMapNode | Promise<DirMapNode>)[] = [];
        for (let i = 0; i < count; i++) {
          if (input.u8() === 0) slots.push(map(input.id()));
          else slots.push({ name: input.str16(), entry: await readEntry(input) });
        }
        return makeNode(bitmap, await Promise.all(slots));
      });
    const readEntry = async (input: ByteReader): Promise<Entry> => {
      const type = input.u8();
      const ino = input.f64();
      if (type === 4) return { type: 'link', ino };
      const meta = { ino, mode: input.u32(), uid: input.u32(), gid: input.u32(), mtimeMs: input.f64(), ctimeMs: input.f64() };
      const nlink = input.u32();
      const linked = nlink === 0 ? {} : { nlink };
      if (type === 1) {
        const size = input.f64();
        const height = input.u8();
        const root = input.ref();
        const blocks: BlockVector = { height, root: root === undefined ? null : await vector(root, height) };
        return { type: 'file', ...meta, size, blocks, ...linked };
      }
      if (type === 2) {
        const root = input.ref();
        const entries: DirMap = root === undefined ? null : await map(root);
        return { type: 'dir', ...meta, entries };
      }
      if (type === 3) return { type: 'symlink', ...meta, target: input.str32(), ...linked };
      throw input.damaged(`unknown entry type ${type}`);
    };
    return fetch(id, async (input) => {
      input.expect(TREE_TAG);
      const nextIno = input.f64();
      const root = await readEntry(input);
      if (root.type !== 'dir') throw input.damaged('tree root is not a directory');
      const links = input.ref();
      return { root, links: links === undefined ? null : await map(links), nextIno };
    });
  }

  /** Adds the id of every stored node reachable from `tree` to `into` (the collector's marks). */
  markNodes(tree: Tree, into: Set<BlockId>, seen: Set<object>): void {
    const mark = (node: object): boolean => {
      if (seen.has(node)) return false;
      seen.add(node);
      const id = this.#ids.get(node);
      if (id !== undefined) into.add(id);
      return true;
    };
    const vector = (node: VectorNode, height: number): void => {
      if (!mark(node) || height === 0) return;
      for (const slot of node.slots) if (slot !== null) vector(slot as VectorNode, height - 1);
    };
    const entry = (value: Entry): void => {
      if (value.type === 'file' && value.blocks.root !== null) vector(value.blocks.root, value.blocks.height);
      else if (value.type === 'dir' && value.entries !== null) map(value.entries);
    };
    const map = (node: DirMapNode): void => {
      if (!mark(node)) return;
      for (const slot of node.slots) {
        if (isNode(slot)) map(slot);
        else entry(slot.entry);
      }
    };
    if (!mark(tree)) return;
    entry(tree.root);
    if (tree.links !== null) map(tree.links);
  }
}

/** Appends little-endian values to a growing buffer. */
class ByteWriter {
  #buffer = Buffer.allocUnsafe(256);
  #length = 0;

  #room(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.byteLength) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buffer.byteLength * 2, this.#length + bytes));
    this.#buffer.copy(bigger, 0, 0, this.#length);
    this.#buffer = bigger;
  }
  u8(value: number): this {
    this.#room(1);
    this.#buffer.writeUInt8(value, this.#length);
    this.#length += 1;
    return this;
  }
  u16(value: number): this {
    this.#room(2);
    this.#buffer.writeUInt16LE(value, this.#length);
    this.#length += 2;
    return this;
  }
  u32(value: number): this {
    this.#room(4);
    this.#buffer.writeUInt32LE(value, this.#length);
    this.#length += 4;
    return this;
  }
  f64(value: number): this {
    this.#room(8);
    this.#buffer.writeDoubleLE(value, this.#length);
    this.#length += 8;
    return this;
  }
  id(value: BlockId): this {
    this.#room(32);
    this.#buffer.write(value, this.#length, 32, 'hex');
    this.#length += 32;
    return this;
  }
  ref(value: BlockId | undefined): this {
    return value === undefined ? this.u8(0) : this.u8(1).id(value);
  }
  str16(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.u16(bytes.byteLength);
    this.#room(bytes.byteLength);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.byteLength;
    return this;
  }
  str32(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.u32(bytes.byteLength);
    this.#room(bytes.byteLength);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.byteLength;
    return this;
  }
  done(): Buffer {
    return Buffer.from(this.#buffer.subarray(0, this.#length));
  }
}

/** Reads what `ByteWriter` wrote; any overrun or bad value is damage (`EINTEGRITY`). */
class ByteReader {
  readonly #bytes: Buffer;
  readonly #id: BlockId;
  #at = 0;

  constructor(bytes: Uint8Array, id: BlockId) {
    this.#bytes = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#id = id;
  }
  #take(bytes: number): number {
    if (this.#at + bytes > this.#bytes.byteLength) throw this.damaged('record is truncated');
    const at = this.#at;
    this.#at += bytes;
    return at;
  }
  damaged(detail: string): Error {
    return fsError('EINTEGRITY', { syscall: 'read', detail: `tree node ${this.#id}: ${detail}` });
  }
  expect(tag: number): void {
    if (this.u8() !== tag) throw this.damaged(`expected a record of type ${String.fromCharCode(tag)}`);
  }
  u8(): number {
    return this.#bytes.readUInt8(this.#take(1));
  }
  u16(): number {
    return this.#bytes.readUInt16LE(this.#take(2));
  }
  u32(): number {
    return this.#bytes.readUInt32LE(this.#take(4));
  }
  f64(): number {
    return this.#bytes.readDoubleLE(this.#take(8));
  }
  id(): BlockId {
    const at = this.#take(32);
    const id = parseBlockId(this.#bytes.toString('hex', at, at + 32));
    if (id === undefined) throw this.damaged('bad id');
    return id;
  }
  ref(): BlockId | undefined {
    return this.u8() === 0 ? undefined : this.id();
  }
  str16(): string {
    const length = this.u16();
    const at = this.#take(length);
    return this.#bytes.toString('utf8', at, at + length);
  }
  str32(): string {
    const length = this.u32();
    const at = this.#take(length);
    return this.#bytes.toString('utf8', at, at + length);
  }
}
