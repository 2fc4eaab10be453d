import { dirMapDelete, dirMapGet, dirMapSet, type DirMap } from './DirMap.js';
import type { DirEntry, Entry, LinkedRecord, NodeRecord } from './Entry.js';

/**
 * The whole filesystem of one snapshot: immutable, complete, and sharing every unchanged node
 * with the snapshot it came from. A lookup never consults a parent snapshot, so it costs the same
 * at the bottom of a 1000-layer stack as at the top.
 *
 * Invariants: `root` is a directory; every `LinkRef` in the tree names an inode of `links` whose
 * `nlink` counts exactly the references to it; every inode number in the tree is below `nextIno`.
 */
export interface Tree {
  readonly root: DirEntry;
  /** Hard-linked inodes, keyed by their inode number in decimal. */
  readonly links: DirMap;
  readonly nextIno: number;
}

export const ROOT_INO = 1;

/** The tree of a snapshot without parent: an empty root directory, 0o755, owned by 0:0. */
export function emptyTree(nowMs: number): Tree {
  const root: DirEntry = { type: 'dir', ino: ROOT_INO, mode: 0o755, uid: 0, gid: 0, mtimeMs: nowMs, ctimeMs: nowMs, entries: null };
  return { root, links: null, nextIno: ROOT_INO + 1 };
}

/** The inode an entry stands for, through the link table for a `LinkRef`. */
export function recordOf(tree: Tree, entry: Entry): NodeRecord {
  if (entry.type !== 'link') return entry;
  const record = dirMapGet(tree.links, String(entry.ino));
  if (record === undefined) throw new Error(`tree invariant broken: no link record for inode ${entry.ino}`);
  return record as LinkedRecord;
}

/** Where an entry sits: the physical chain of directories above it and its name. */
export interface Place {
  /** Directories from the root to the parent of `name`; `names[i]` is `dirs[i + 1]`'s name. */
  readonly dirs: readonly DirEntry[];
  readonly names: readonly string[];
  /** Undefined for the root itself. */
  readonly name: string | undefined;
}

/** The tree with the parent of `place` replaced by `parent`, copying every directory above it. */
export function withParent(tree: Tree, place: Place, parent: DirEntry): Tree {
  let child = parent;
  for (let i = place.names.length - 1; i >= 0; i--) {
    const above = place.dirs[i]!;
    child = { ...above, entries: dirMapSet(above.entries, place.names[i]!, child) };
  }
  return { ...tree, root: child };
}

/**
 * Sets (or, with `undefined`, removes) the entry at `place`. With `touchParent` the parent
 * directory's mtime and ctime become `nowMs`, as POSIX does when a directory's entries change.
 */
export function withEntry(tree: Tree, place: Place, entry: Entry | undefined, nowMs: number, touchParent: boolean): Tree {
  if (place.name === undefined) {
    if (entry === undefined || entry.type !== 'dir') throw new Error('the root can only be replaced by a directory');
    return { ...tree, root: entry };
  }
  const parent = place.dirs[place.dirs.length - 1]!;
  const entries = entry === undefined ? dirMapDelete(parent.entries, place.name) : dirMapSet(parent.entries, place.name, entry);
  const updated: DirEntry = touchParent ? { ...parent, entries, mtimeMs: nowMs, ctimeMs: nowMs } : { ...parent, entries };
  return withParent(tree, place, updated);
}

/**
 * Replaces the inode that `stored` (the entry at `place`) stands for: in the link table when
 * `stored` is a `LinkRef`, which leaves every directory untouched; in place otherwise.
 */
export function withRecord(tree: Tree, place: Place, stored: Entry, record: NodeRecord): Tree {
  if (stored.type === 'link') {
    return { ...tree, links: dirMapSet(tree.links, String(stored.ino), record as LinkedRecord) };
  }
  return withEntry(tree, place, record as Entry, 0, false);
}

/** A fresh inode number and the tree that has handed it out. */
export function allocateIno(tree: Tree): [number, Tree] {
  return [tree.nextIno, { ...tree, nextIno: tree.nextIno + 1 }];
}
