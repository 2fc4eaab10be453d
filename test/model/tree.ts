import { createHash } from 'node:crypto';
import type { Layer, SnapshotInfo } from './api.js';
import { assertEqual } from './outcome.js';
import type { ModelSnapshot, StoreModel, UnionReal } from './StoreModel.js';
import type { NodeType, ReferenceFs, TreeEntry } from './ReferenceFs.js';

/**
 * Reads a layer's whole tree with the public calls only (readdir, lstat, readFile, readlink),
 * in the same order as `ReferenceFs.tree()`: depth first, names as readdir returns them (which
 * API.md says are sorted, so an unsorted readdir shows up as a mismatch).
 */
export async function listTree(layer: Layer): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const groups = new Map<string, string>();
  const visit = async (path: string): Promise<void> => {
    const st = await layer.lstat(path);
    const type: NodeType = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : unknownType(path, st.mode);
    let linkGroup: string | undefined;
    if (type !== 'dir') {
      const ino = String(st.ino);
      linkGroup = groups.get(ino) ?? path;
      groups.set(ino, linkGroup);
    }
    out.push({
      path,
      type,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      nlink: st.nlink,
      size: type === 'dir' ? undefined : st.size,
      data: type === 'file' ? await layer.readFile(path) : undefined,
      target: type === 'symlink' ? await layer.readlink(path) : undefined,
      linkGroup,
    });
    if (type !== 'dir') return;
    for (const name of await layer.readdir(path)) await visit(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  await visit('/');
  return out;
}

function unknownType(path: string, mode: number): never {
  throw new Error(`${path}: lstat gives a type that is none of file, directory, symlink (mode ${mode.toString(8)})`);
}

export interface FormatOptions {
  /** Compare hard-link groups and link counts (off where a test copies files and so cannot keep them). */
  links?: boolean;
}

/** One line per entry, everything but times: what two trees are compared by. */
export function formatTree(entries: readonly TreeEntry[], options: FormatOptions = {}): string[] {
  const links = options.links ?? true;
  return entries.map((e) => {
    let line = `${e.path} ${e.type} ${e.mode.toString(8)} ${e.uid}:${e.gid}`;
    if (links) line += ` nlink=${e.nlink}`;
    if (e.size !== undefined) line += ` size=${e.size}`;
    if (e.data !== undefined) line += ` sha=${createHash('sha256').update(e.data).digest('hex').slice(0, 16)}`;
    if (e.target !== undefined) line += ` -> ${JSON.stringify(e.target)}`;
    if (links && e.linkGroup !== undefined && e.linkGroup !== e.path) line += ` =link(${e.linkGroup})`;
    return line;
  });
}

/** The layer the comparison reads a snapshot through: mounted once per snapshot id. */
async function inspector(real: UnionReal, snapshot: ModelSnapshot): Promise<Layer> {
  let layer = real.inspectors.get(snapshot.id);
  if (layer === undefined) {
    layer = await real.store.mount(snapshot.key);
    real.inspectors.set(snapshot.id, layer);
  }
  return layer;
}

/**
 * The distinct data blocks of a tree, as API.md defines them: each file cut into `blockSize`
 * pieces (the last may be shorter), all-zero pieces being holes that take no space; content id
 * (SHA-256 hex) → length.
 */
export function blockSet(fs: ReferenceFs, blockSize: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (const entry of fs.tree()) {
    if (entry.data === undefined) continue;
    for (let at = 0; at < entry.data.length; at += blockSize) {
      const block = entry.data.subarray(at, Math.min(entry.data.length, at + blockSize));
      if (block.every((b) => b === 0)) continue;
      seen.set(createHash('sha256').update(block).digest('hex'), block.length);
    }
  }
  return seen;
}

/** The distinct blocks all the given trees reference together: what a store must hold, and all it holds after gc. */
export function referencedBlocks(trees: Iterable<ReferenceFs>, blockSize: number): { blocks: number; bytes: number } {
  const all = new Map<string, number>();
  for (const fs of trees) for (const [id, n] of blockSet(fs, blockSize)) all.set(id, n);
  let bytes = 0;
  for (const n of all.values()) bytes += n;
  return { blocks: all.size, bytes };
}

export function modelInfo(s: ModelSnapshot): { key: string; kind: string; parent: string | null } {
  return { key: s.key, kind: s.kind, parent: s.parent ?? null };
}

export function realInfo(s: SnapshotInfo): { key: string; kind: string; parent: string | null } {
  return { key: s.key, kind: s.kind, parent: s.parent ?? null };
}

/**
 * The check after every command: every live snapshot's tree equals its model's (committed ones
 * forever), the store lists exactly the model's snapshots with their kinds, parents and (where
 * known) labels, and the store holds at least every block a snapshot references.
 */
export async function assertSameStores(model: StoreModel, real: UnionReal): Promise<void> {
  for (const id of real.inspectors.keys()) {
    if (![...model.snapshots.values()].some((s) => s.id === id)) real.inspectors.delete(id);
  }
  const snapshots = [...model.snapshots.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
  for (const snapshot of snapshots) {
    const layer = await inspector(real, snapshot);
    assertEqual(`tree of ${snapshot.kind} snapshot ${snapshot.key}`, formatTree(await listTree(layer)), formatTree(snapshot.fs.tree()));
  }
  const listed: SnapshotInfo[] = [];
  for await (const info of real.store.walk()) listed.push(info);
  listed.sort((a, b) => (a.key < b.key ? -1 : 1));
  assertEqual('store.walk()', listed.map(realInfo), snapshots.map(modelInfo));
  for (const info of listed) {
    const labels = model.snapshots.get(info.key)?.labels;
    if (labels !== undefined) assertEqual(`labels of ${info.key}`, info.labels, labels);
  }
  const stats = await real.store.stats();
  const referenced = referencedBlocks(snapshots.map((s) => s.fs), real.blockSize);
  if (stats.snapshots !== snapshots.length) throw new Error(`stats().snapshots is ${stats.snapshots}, the model has ${snapshots.length}`);
  if (stats.blockSize !== real.blockSize) throw new Error(`stats().blockSize is ${stats.blockSize}, the store was opened with ${real.blockSize}`);
  if (stats.blocks < referenced.blocks || stats.storedBytes < referenced.bytes) {
    throw new Error(`stats() holds ${stats.blocks} blocks / ${stats.storedBytes} bytes, fewer than the ${referenced.blocks} blocks / ${referenced.bytes} bytes live snapshots reference`);
  }
}
