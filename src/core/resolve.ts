import { dirMapGet } from './DirMap.js';
import type { DirEntry, Entry, NodeRecord } from './Entry.js';
import { fsError } from './errors.js';
import { recordOf, type Place, type Tree } from './Tree.js';

/** Symbolic links one lookup may follow before it fails with `ELOOP`, as Linux's limit. */
export const MAX_SYMLINKS = 40;

/** The result of a lookup: where the path lands, and what is there. */
export interface Location extends Place {
  /** The entry as stored under `name` (a `LinkRef` for a hard-linked file); undefined when absent. */
  readonly entry: Entry | undefined;
  /** The inode `entry` stands for. */
  readonly record: NodeRecord | undefined;
}

/** The error context of a lookup: the call and the path as the caller gave it. */
export interface Call {
  readonly syscall: string;
  readonly path: string;
}

/** A path's components, empty ones dropped; `.` and `..` kept for `resolve` to apply. */
export function pathComponents(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

/**
 * Looks `path` up in `tree`, POSIX style: relative paths start at `/`, a component followed by `.`
 * or `..` must be a directory, `..` goes to the physical parent (and stays at `/`), symbolic links met on the way are followed inside the tree (an
 * absolute target from the tree's root), and so is the last component when `followLast` (or when
 * the path ends in `/`, which also requires a directory).
 *
 * Only the last component may be missing; then `entry` is undefined and `name` is where it would
 * be created. Rejects with `ENOENT` or `ENOTDIR` for a missing or non-directory component on the
 * way, `ELOOP` past `MAX_SYMLINKS` links.
 */
export function resolve(tree: Tree, path: string, followLast: boolean, call: Call): Location {
  const trailingSlash = path.endsWith('/');
  const pending = pathComponents(path);
  const dirs: DirEntry[] = [tree.root];
  const names: string[] = [];
  let followed = 0;
  const follow = (target: string): void => {
    if (++followed > MAX_SYMLINKS) throw fsError('ELOOP', call);
    if (target === '') throw fsError('ENOENT', call);
    if (target.startsWith('/')) {
      dirs.length = 1;
      names.length = 0;
    }
    pending.unshift(...pathComponents(target));
  };
  while (pending.length > 0) {
    const name = pending.shift()!;
    // `.` stays where it is; what came before it was looked up as a directory, as POSIX requires.
    if (name === '.') continue;
    if (name === '..') {
      if (names.length > 0) {
        dirs.pop();
        names.pop();
      }
      continue;
    }
    const entry = dirMapGet(dirs[dirs.length - 1]!.entries, name);
    const record = entry === undefined ? undefined : recordOf(tree, entry);
    const last = pending.length === 0;
    if (last) {
      if (record?.type === 'symlink' && (followLast || trailingSlash)) {
        follow(record.target);
        continue;
      }
      if (trailingSlash && record !== undefined && record.type !== 'dir') throw fsError('ENOTDIR', call);
      return { dirs, names, name, entry, record };
    }
    if (record === undefined) throw fsError('ENOENT', call);
    if (record.type === 'symlink') {
      follow(record.target);
      continue;
    }
    if (record.type !== 'dir') throw fsError('ENOTDIR', call);
    dirs.push(record);
    names.push(name);
  }
  // The path named a directory itself (`/`, or one ending in `..` or a link to a directory).
  const self = dirs[dirs.length - 1]!;
  if (names.length === 0) return { dirs: [], names: [], name: undefined, entry: self, record: self };
  return { dirs: dirs.slice(0, -1), names: names.slice(0, -1), name: names[names.length - 1], entry: self, record: self };
}

/** The directory at a physical chain of names, which must exist (a place computed earlier). */
export function placeOf(tree: Tree, names: readonly string[], name: string | undefined): Place {
  const dirs: DirEntry[] = [tree.root];
  for (const part of names) {
    const entry = dirMapGet(dirs[dirs.length - 1]!.entries, part);
    if (entry === undefined || entry.type !== 'dir') throw new Error(`tree invariant broken: no directory ${part}`);
    dirs.push(entry);
  }
  return { dirs, names, name };
}

/** The physical absolute path of a place: `/` for the root. */
export function placePath(place: Place): string {
  return place.name === undefined ? '/' : `/${[...place.names, place.name].join('/')}`;
}
