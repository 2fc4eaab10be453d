import { vectorEquals } from './BlockVector.js';
import { dirMapChanges } from './DirMap.js';
import type { DirEntry, NodeRecord } from './Entry.js';
import { recordOf, type Tree } from './Tree.js';
import { walkDir } from './walk.js';

/** One path that differs between two trees (shared/API.md, `diff`). */
export interface Change {
  readonly path: string;
  readonly kind: 'added' | 'modified' | 'deleted';
}

/**
 * The changes that turn `base` into `tree`, ordered by path (a directory before its entries).
 *
 * A path is added when absent in `base` (with every entry below it), deleted when absent in
 * `tree` (only the topmost such path), modified when present in both with a different type,
 * content, size, mode, owner, link target or mtime, as API.md lists. Inode identity is not
 * compared: a name re-linked to another inode with equal content and metadata is not a change. The root is listed as modified when its own
 * mode, owner or mtime changed (never as added or deleted).
 *
 * Cost: directories both trees share (the same object) are skipped, so a diff between a snapshot
 * and its parent costs O(changes × depth), whatever the size of the tree; subtrees holding hard
 * links are walked when the link table changed.
 */
export function diffTrees(base: Tree, tree: Tree): Change[] {
  const changes: Change[] = [];
  const linksChanged = base.links !== tree.links;
  const addAll = (dir: DirEntry, prefix: string): void =>
    walkDir(tree, dir, prefix, (path) => changes.push({ path, kind: 'added' }));
  const compare = (before: DirEntry, after: DirEntry, prefix: string): void => {
    for (const change of dirMapChanges(before.entries, after.entries, linksChanged)) {
      const path = `${prefix}/${change.name}`;
      if (change.before === undefined) {
        const record = recordOf(tree, change.after!);
        changes.push({ path, kind: 'added' });
        if (record.type === 'dir') addAll(record, path);
      } else if (change.after === undefined) {
        changes.push({ path, kind: 'deleted' });
      } else {
        const a = recordOf(base, change.before);
        const b = recordOf(tree, change.after);
        if (a.type !== b.type) {
          changes.push({ path, kind: 'modified' });
          if (b.type === 'dir') addAll(b, path);
        } else if (a.type === 'dir') {
          if (!sameMeta(a, b)) changes.push({ path, kind: 'modified' });
          compare(a, b as DirEntry, path);
        } else if (!sameRecord(a, b)) {
          changes.push({ path, kind: 'modified' });
        }
      }
    }
  };
  if (!sameMeta(base.root, tree.root)) changes.push({ path: '/', kind: 'modified' });
  if (base.root !== tree.root || linksChanged) compare(base.root, tree.root, '');
  return changes.sort((x, y) => comparePaths(x.path, y.path));
}

function sameMeta(a: NodeRecord, b: NodeRecord): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeMs === b.mtimeMs;
}

function sameRecord(a: NodeRecord, b: NodeRecord): boolean {
  if (a === b) return true;
  if (!sameMeta(a, b)) return false;
  if (a.type === 'file' && b.type === 'file') return a.size === b.size && vectorEquals(a.blocks, b.blocks);
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  return false;
}

/** Orders paths component by component, so `/a/b` sorts before `/a-b` and a parent before its entries. */
export function comparePaths(x: string, y: string): number {
  const a = x.replaceAll('/', '\u0000');
  const b = y.replaceAll('/', '\u0000');
  return a < b ? -1 : a > b ? 1 : 0;
}
