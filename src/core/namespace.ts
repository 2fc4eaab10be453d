import { EMPTY_VECTOR } from './BlockVector.js';
import { dirMapDelete, dirMapEntries, dirMapGet, dirMapLinks, dirMapSet, dirMapSize, type DirMap } from './DirMap.js';
import type { DirEntry, Entry, FileEntry, LinkedRecord, NodeRecord, SymlinkEntry } from './Entry.js';
import { fsError, hasCode } from './errors.js';
import { placeOf, placePath, resolve, type Call, type Location } from './resolve.js';
import { allocateIno, withEntry, withRecord, type Place, type Tree } from './Tree.js';

/**
 * The namespace operations of a writable tree, as pure functions: each takes a tree and returns
 * the new one, or throws a `node:fs`-shaped error and changes nothing. File contents are not
 * here (they need the block store); everything else that `Layer` does is.
 *
 * Times come in as `nowMs` so the functions stay pure and testable.
 */

/** Longest name, in UTF-8 bytes, as Linux's NAME_MAX. */
export const NAME_MAX = 255;

/** OCI layers reserve names beginning with this prefix for whiteouts. */
export const WHITEOUT_PREFIX = '.wh.';

const PERMISSION_BITS = 0o7777;

/** Rejects a name that cannot be created: a whiteout name, a NUL, or longer than `NAME_MAX`. */
export function checkNewName(name: string, call: Call): void {
  if (name.startsWith(WHITEOUT_PREFIX)) {
    throw fsError('EINVAL', { ...call, detail: `names beginning with '${WHITEOUT_PREFIX}' are reserved for whiteouts` });
  }
  if (name.includes('\0')) throw fsError('EINVAL', { ...call, detail: 'a name may not contain NUL' });
  if (new TextEncoder().encode(name).length > NAME_MAX) throw fsError('ENAMETOOLONG', call);
}

/** A mode as given by a caller, checked and cut to permission bits. */
export function permissionBits(mode: number, call: Call): number {
  if (!Number.isInteger(mode) || mode < 0) throw fsError('EINVAL', { ...call, detail: `invalid mode ${mode}` });
  return mode & PERMISSION_BITS;
}

/** Adds an entry at a missing location, touching the parent. */
function create(tree: Tree, at: Location, entry: Entry, nowMs: number, call: Call): Tree {
  if (at.name === undefined) throw fsError('EEXIST', call);
  checkNewName(at.name, call);
  return withEntry(tree, at, entry, nowMs, true);
}

/** Creates an empty regular file at a location that has nothing (the `O_CREAT` of `open`). */
export function createFile(tree: Tree, at: Location, mode: number, nowMs: number, call: Call): Tree {
  const [ino, next] = allocateIno(tree);
  const file: FileEntry = { type: 'file', ino, mode, uid: 0, gid: 0, mtimeMs: nowMs, ctimeMs: nowMs, size: 0, blocks: EMPTY_VECTOR };
  return create(next, at, file, nowMs, call);
}

export function mkdir(tree: Tree, path: string, mode: number, recursive: boolean, nowMs: number): Tree {
  const call = { syscall: 'mkdir', path };
  if (!recursive) {
    const at = resolve(tree, path, false, call);
    if (at.entry !== undefined) throw fsError('EEXIST', call);
    return makeDir(tree, at, mode, nowMs, call);
  }
  // As node's mkdirp: mkdir each component; where one exists, stat it (following links, so a
  // dangling or looping link fails with ENOENT or ELOOP rather than being created through).
  const parts = path.split('/').filter((part) => part !== '');
  let current = tree;
  for (let i = 1; i <= parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    const at = resolve(current, prefix, false, call);
    if (at.record === undefined) {
      current = makeDir(current, at, mode, nowMs, call);
      continue;
    }
    const target = at.record.type === 'symlink' ? resolve(current, prefix, true, call).record : at.record;
    if (target === undefined) throw fsError('ENOENT', call);
    if (target.type !== 'dir') throw fsError(i === parts.length ? 'EEXIST' : 'ENOTDIR', call);
  }
  return current;
}

function makeDir(tree: Tree, at: Location, mode: number, nowMs: number, call: Call): Tree {
  const [ino, next] = allocateIno(tree);
  const dir: DirEntry = { type: 'dir', ino, mode, uid: 0, gid: 0, mtimeMs: nowMs, ctimeMs: nowMs, entries: null };
  return create(next, at, dir, nowMs, call);
}

export function symlink(tree: Tree, target: string, path: string, nowMs: number): Tree {
  const call = { syscall: 'symlink', path };
  if (target === '') throw fsError('ENOENT', call);
  if (target.includes('\0')) throw fsError('EINVAL', { ...call, detail: 'a link target may not contain NUL' });
  const at = resolve(tree, path, false, call);
  if (at.entry !== undefined) throw fsError('EEXIST', call);
  const [ino, next] = allocateIno(tree);
  const link: SymlinkEntry = { type: 'symlink', ino, mode: 0o777, uid: 0, gid: 0, mtimeMs: nowMs, ctimeMs: nowMs, target };
  return create(next, at, link, nowMs, call);
}

/** Removes the entry at `at`, releasing the link-table references it (or its subtree) holds. */
function removeEntry(tree: Tree, at: Location, nowMs: number): Tree {
  const removed = at.entry!;
  return releaseLinks(withEntry(tree, at, undefined, nowMs, true), removed, nowMs);
}

/** Drops one reference for each `LinkRef` in `entry` (a whole subtree for a directory). */
function releaseLinks(tree: Tree, entry: Entry, nowMs: number): Tree {
  if (entry.type === 'dir') {
    if (dirMapLinks(entry.entries) === 0) return tree;
    let current = tree;
    for (const leaf of dirMapEntries(entry.entries)) current = releaseLinks(current, leaf.entry, nowMs);
    return current;
  }
  if (entry.type !== 'link') return tree;
  const key = String(entry.ino);
  const record = dirMapGet(tree.links, key) as LinkedRecord;
  const links = record.nlink <= 1 ? dirMapDelete(tree.links, key) : dirMapSet(tree.links, key, { ...record, nlink: record.nlink - 1, ctimeMs: nowMs });
  return { ...tree, links };
}

export function unlink(tree: Tree, path: string, nowMs: number): Tree {
  const call = { syscall: 'unlink', path };
  const at = resolve(tree, path, false, call);
  if (at.record === undefined) throw fsError('ENOENT', call);
  if (at.record.type === 'dir') throw fsError('EISDIR', call);
  return removeEntry(tree, at, nowMs);
}

export function rmdir(tree: Tree, path: string, nowMs: number): Tree {
  const call = { syscall: 'rmdir', path };
  const at = resolve(tree, path, false, call);
  if (at.record === undefined) throw fsError('ENOENT', call);
  if (at.record.type !== 'dir') throw fsError('ENOTDIR', call);
  if (at.name === undefined) throw fsError('EBUSY', call);
  if (dirMapSize(at.record.entries) > 0) throw fsError('ENOTEMPTY', call);
  return removeEntry(tree, at, nowMs);
}

/** `rm`: `node:fs` semantics; a directory needs `recursive`, a missing path is fine with `force`. */
export function rm(tree: Tree, path: string, recursive: boolean, force: boolean, nowMs: number): Tree {
  const call = { syscall: 'rm', path };
  let at: Location;
  try {
    at = resolve(tree, path, false, call);
  } catch (error) {
    if (force && hasCode(error, 'ENOENT')) return tree;
    throw error;
  }
  if (at.record === undefined) {
    if (force) return tree;
    throw fsError('ENOENT', call);
  }
  if (at.record.type === 'dir') {
    if (!recursive) throw fsError('EISDIR', { ...call, detail: 'is a directory; rm needs recursive' });
    if (at.name === undefined) throw fsError('EBUSY', call);
  }
  return removeEntry(tree, at, nowMs);
}

/**
 * `rename(2)`: moves a file or a whole directory anywhere in the tree (never `EXDEV`). Replaces a
 * non-directory target, or an empty directory when moving a directory; does nothing when both
 * names are the same inode.
 */
export function rename(tree: Tree, from: string, to: string, nowMs: number): Tree {
  const call = { syscall: 'rename', path: from, dest: to };
  // Both parents are looked up before the source itself, as rename(2) does.
  const source = resolve(tree, from, false, call);
  const target = resolve(tree, to, false, call);
  if (source.entry === undefined || source.record === undefined) throw fsError('ENOENT', call);
  if (source.name === undefined || target.name === undefined) throw fsError('EBUSY', call);
  const sourcePath = placePath(source);
  const targetPath = placePath(target);
  // Linux checks the ancestry of the two paths before their types (lock_rename's "trap").
  if (targetPath.startsWith(`${sourcePath}/`)) throw fsError('EINVAL', { ...call, detail: 'cannot move a directory into itself' });
  if (target.record !== undefined && sourcePath.startsWith(`${targetPath}/`)) throw fsError('ENOTEMPTY', call);
  if (target.record !== undefined) {
    if (target.record.ino === source.record.ino) return tree;
    if (source.record.type === 'dir') {
      if (target.record.type !== 'dir') throw fsError('ENOTDIR', call);
      if (dirMapSize(target.record.entries) > 0) throw fsError('ENOTEMPTY', call);
    } else if (target.record.type === 'dir') {
      throw fsError('EISDIR', call);
    }
  } else {
    checkNewName(target.name, call);
  }
  const moved = touchCtime(tree, source.entry, nowMs);
  let next = tree;
  if (moved.links !== tree.links) next = { ...next, links: moved.links };
  if (target.entry !== undefined) next = releaseLinks(next, target.entry, nowMs);
  next = withEntry(next, placeOf(next, source.names, source.name), undefined, nowMs, true);
  return withEntry(next, placeOf(next, target.names, target.name), moved.entry, nowMs, true);
}

/** The entry with its inode's ctime set, and the link table that holds it when it is a `LinkRef`. */
function touchCtime(tree: Tree, entry: Entry, nowMs: number): { entry: Entry; links: DirMap } {
  if (entry.type !== 'link') return { entry: { ...entry, ctimeMs: nowMs }, links: tree.links };
  const key = String(entry.ino);
  const record = dirMapGet(tree.links, key) as LinkedRecord;
  return { entry, links: dirMapSet(tree.links, key, { ...record, ctimeMs: nowMs }) };
}

/** A hard link: `newPath` becomes a second name of the inode at `existing` (not followed). */
export function link(tree: Tree, existing: string, newPath: string, nowMs: number): Tree {
  const call = { syscall: 'link', path: existing, dest: newPath };
  const source = resolve(tree, existing, false, call);
  if (source.entry === undefined || source.record === undefined) throw fsError('ENOENT', call);
  // Linux's order: the new name's lookup (ENOENT, ENOTDIR, EEXIST, its checks) before EPERM for a directory.
  const target = resolve(tree, newPath, false, call);
  if (target.entry !== undefined || target.name === undefined) throw fsError('EEXIST', call);
  checkNewName(target.name, call);
  if (source.record.type === 'dir') throw fsError('EPERM', call);
  const record = source.record as FileEntry | SymlinkEntry | LinkedRecord;
  const nlink = source.entry.type === 'link' ? (record as LinkedRecord).nlink + 1 : 2;
  const linked: LinkedRecord = { ...record, nlink, ctimeMs: nowMs };
  let next: Tree = { ...tree, links: dirMapSet(tree.links, String(record.ino), linked) };
  const ref: Entry = { type: 'link', ino: record.ino };
  if (source.entry.type !== 'link') next = withEntry(next, source, ref, nowMs, false);
  return withEntry(next, placeOf(next, target.names, target.name), ref, nowMs, true);
}

/**
 * Replaces the metadata of the inode at `path`, following a final symbolic link as `chmod(2)`
 * does, or changing the link itself (`lchown(2)`, `lutimes(3)`) when `follow` is false.
 */
export function updateMeta(
  tree: Tree,
  path: string,
  syscall: string,
  change: (record: NodeRecord) => NodeRecord,
  follow = true,
): Tree {
  const call = { syscall, path };
  const at = resolve(tree, path, follow, call);
  if (at.entry === undefined || at.record === undefined) throw fsError('ENOENT', call);
  return withRecord(tree, at as Place, at.entry, change(at.record));
}
