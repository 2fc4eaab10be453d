import type { BlockId } from './BlockId.js';
import { vectorForEach } from './BlockVector.js';
import { dirMapEntries } from './DirMap.js';
import type { DirEntry, NodeRecord } from './Entry.js';
import { recordOf, type Tree } from './Tree.js';

/** Calls `visit` for every entry below `dir` (depth first, parents before children). */
export function walkDir(tree: Tree, dir: DirEntry, prefix: string, visit: (path: string, record: NodeRecord) => void): void {
  for (const leaf of dirMapEntries(dir.entries)) {
    const path = `${prefix}/${leaf.name}`;
    const record = recordOf(tree, leaf.entry);
    visit(path, record);
    if (record.type === 'dir') walkDir(tree, record, path, visit);
  }
}

/** Calls `visit` for every entry of the tree, the root excluded. */
export function walkTree(tree: Tree, visit: (path: string, record: NodeRecord) => void): void {
  walkDir(tree, tree.root, '', visit);
}

const blockSets = new WeakMap<Tree, ReadonlySet<BlockId>>();

/**
 * Every block id the tree references. A tree never changes, so the set is computed once per tree
 * and kept while the tree lives (committed snapshots are asked again by every usage and gc).
 */
export function treeBlockIds(tree: Tree): ReadonlySet<BlockId> {
  let ids = blockSets.get(tree);
  if (ids === undefined) {
    const found = new Set<BlockId>();
    const seen = new Set<DirEntry>();
    const visitDir = (dir: DirEntry): void => {
      if (seen.has(dir)) return;
      seen.add(dir);
      for (const leaf of dirMapEntries(dir.entries)) {
        const record = recordOf(tree, leaf.entry);
        if (record.type === 'file') vectorForEach(record.blocks, (_, id) => found.add(id));
        else if (record.type === 'dir') visitDir(record);
      }
    };
    visitDir(tree.root);
    ids = found;
    blockSets.set(tree, ids);
  }
  return ids;
}
