import fc from 'fast-check';
import type { Change } from '../api.js';
import { assertOutcome, attempt, expectOf } from '../outcome.js';
import { ModelError, ReferenceFs, type TreeEntry } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores, formatTree } from '../tree.js';
import { fresh, type KeyRef } from './refs.js';

interface Trees {
  key: Map<string, TreeEntry>;
  /** `undefined`: the empty base (no parent, or `null`), which has no root either. */
  base: Map<string, TreeEntry> | undefined;
  /** The snapshot has not been written since it was made from its parent: the diff is empty. */
  mustBeEmpty: boolean;
}

/**
 * `diff(key, base?)` checked against the model's two trees. The model does not keep mtimes, and
 * API.md counts an mtime change as a modification, so: every listed change must be true of the
 * trees (added: absent in base, present in key; deleted: present in base, absent in key, with its
 * parent present in key, i.e. topmost; modified: present in both), paths strictly ordered, and
 * every change the model can see must be listed (a new path, a changed type, content, size, mode,
 * owner or target; a deleted path whose parent is still a directory). A `modified` with no visible
 * difference is an mtime change and allowed, except on a snapshot not written since it was made,
 * whose diff against its parent must be empty. A path deleted under a directory that became a
 * file may be listed or not (API.md does not say whether it is "topmost"). Against an empty base,
 * `/` may be listed as added, or not at all.
 */
export class DiffCommand implements UnionCommand {
  constructor(
    readonly key: KeyRef,
    readonly base: KeyRef | null | undefined,
  ) {}

  [fc.cloneMethod](): DiffCommand {
    return new DiffCommand(fresh(this.key), fresh(this.base));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const base = this.base === null || this.base === undefined ? this.base : this.base.resolve(m);
    const expected = expectOf((): Trees => {
      const snapshot = m.snapshots.get(key);
      if (snapshot === undefined) throw new ModelError('ENOENT', 'diff', key);
      let baseFs: ReferenceFs | undefined;
      if (base === undefined) baseFs = snapshot.parent === undefined ? undefined : m.snapshots.get(snapshot.parent)!.fs;
      else if (base !== null) {
        const other = m.snapshots.get(base);
        if (other === undefined) throw new ModelError('ENOENT', 'diff', base);
        baseFs = other.fs;
      }
      return {
        key: byPath(snapshot.fs),
        base: baseFs === undefined ? undefined : byPath(baseFs),
        mustBeEmpty: base === undefined && snapshot.parent !== undefined && snapshot.pristine,
      };
    });
    const actual = await attempt(async () => {
      const changes: Change[] = [];
      const iterable = base === undefined ? r.store.diff(key) : r.store.diff(key, base);
      for await (const change of iterable) changes.push({ path: change.path, kind: change.kind });
      return changes;
    });
    assertOutcome(this.toString(), expected, actual, (changes, trees) => checkDiff(this.toString(), changes, trees));
    await assertSameStores(m, r);
  }

  toString(): string {
    return this.base === undefined ? `diff(${this.key})` : `diff(${this.key}, ${this.base === null ? 'null' : this.base})`;
  }
}

function byPath(fs: ReferenceFs): Map<string, TreeEntry> {
  return new Map(fs.tree().map((e) => [e.path, e]));
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function visible(e: TreeEntry): string {
  return formatTree([e], { links: false })[0]!.slice(e.path.length);
}

function checkDiff(label: string, changes: Change[], trees: Trees): void {
  const fail = (why: string): never => {
    throw new Error(`${label}: ${why}\n  engine listed: ${JSON.stringify(changes)}`);
  };
  const { key } = trees;
  const base = trees.base ?? new Map<string, TreeEntry>();
  if (trees.mustBeEmpty && changes.length > 0) fail('a snapshot not written since it was made must have an empty diff');
  const listed = new Map<string, Change['kind']>();
  for (const [i, c] of changes.entries()) {
    if (i > 0 && !(changes[i - 1]!.path < c.path)) fail(`not strictly ordered by path at ${c.path}`);
    listed.set(c.path, c.kind);
    const inKey = key.has(c.path);
    const inBase = base.has(c.path);
    if (c.kind === 'added' && !(inKey && !inBase)) fail(`${c.path} listed as added`);
    if (c.kind === 'modified' && !(inKey && inBase)) fail(`${c.path} listed as modified`);
    if (c.kind === 'deleted' && !(inBase && !inKey && key.has(parentOf(c.path)))) fail(`${c.path} listed as deleted (not a topmost deletion)`);
  }
  for (const [path, entry] of key) {
    const before = base.get(path);
    if (before === undefined) {
      if (path !== '/' && listed.get(path) !== 'added') fail(`${path} is new but not listed as added`);
    } else if (visible(before) !== visible(entry) && listed.get(path) !== 'modified') {
      fail(`${path} changed (${visible(before)} →${visible(entry)}) but is not listed as modified`);
    }
  }
  for (const path of base.keys()) {
    if (key.has(path)) continue;
    if (key.get(parentOf(path))?.type === 'dir' && listed.get(path) !== 'deleted') fail(`${path} is gone but not listed as deleted`);
  }
}
