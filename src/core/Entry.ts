import type { BlockVector } from './BlockVector.js';
import type { DirMap } from './DirMap.js';

/**
 * The records a snapshot's tree is made of: the inode of a file, directory or symbolic link,
 * stored inline in its parent directory's map (as git stores a tree entry), so a directory record
 * covers its whole subtree and two equal subtrees are the same object.
 *
 * A file with more than one name (a hard link) cannot live inline in two directories at once: its
 * record moves to the tree's link table, keyed by inode number, and each name holds a `LinkRef`.
 *
 * Every record is immutable; a change makes a new record and copies the path above it.
 */
export interface EntryMeta {
  /** Inode number, unique in a tree, kept by copies in child snapshots. */
  readonly ino: number;
  /** Permission bits with setuid, setgid and sticky (`0o7777`); the type is `type`. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export interface FileEntry extends EntryMeta {
  readonly type: 'file';
  /** Bytes; blocks at or beyond `ceil(size / blockSize)` are always holes. */
  readonly size: number;
  readonly blocks: BlockVector;
}

export interface DirEntry extends EntryMeta {
  readonly type: 'dir';
  readonly entries: DirMap;
}

export interface SymlinkEntry extends EntryMeta {
  readonly type: 'symlink';
  readonly target: string;
}

/** A name of a hard-linked inode, whose record is in the tree's link table. */
export interface LinkRef {
  readonly type: 'link';
  readonly ino: number;
}

/** What a link table holds: an inode with its count of names. */
export type LinkedRecord = (FileEntry | SymlinkEntry) & { readonly nlink: number };

/** An inode as seen through any of its names. */
export type NodeRecord = FileEntry | DirEntry | SymlinkEntry | LinkedRecord;

/** What a directory's map holds under a name. */
export type Entry = FileEntry | DirEntry | SymlinkEntry | LinkRef | LinkedRecord;

/** Type bits of `fs.Stats.mode`. */
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Type bits for a record's type. */
export function typeBits(record: NodeRecord): number {
  return record.type === 'file' ? S_IFREG : record.type === 'dir' ? S_IFDIR : S_IFLNK;
}
