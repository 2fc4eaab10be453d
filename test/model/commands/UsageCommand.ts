import fc from 'fast-check';
import type { Usage } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import { ReferenceFs } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { fresh, type KeyRef } from './refs.js';
import { assertSameStores, blockSet } from '../tree.js';

interface Expectation {
  size: number;
  blocks: number;
  pristine: boolean;
}

/**
 * `usage(key)`: `blocks` and `size` are exact — the distinct non-hole blocks of the snapshot's
 * files whose content its parent's files do not hold (a snapshot without parent: all of them),
 * and their bytes. `inodes` depends on mtimes, which the model does not keep: 0 for a snapshot not
 * written since it was made, else a count no smaller than 0.
 */
export class UsageCommand implements UnionCommand {
  constructor(readonly key: KeyRef) {}

  [fc.cloneMethod](): UsageCommand {
    return new UsageCommand(fresh(this.key));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const expected = expectOf((): Expectation => {
      const snapshot = m.stat(key);
      const parent = snapshot.parent === undefined ? new ReferenceFs() : m.snapshots.get(snapshot.parent)!.fs;
      const inParent = blockSet(parent, r.blockSize);
      let size = 0;
      let blocks = 0;
      for (const [id, n] of blockSet(snapshot.fs, r.blockSize)) {
        if (inParent.has(id)) continue;
        size += n;
        blocks += 1;
      }
      return { size, blocks, pristine: snapshot.pristine && snapshot.parent !== undefined };
    });
    const actual = await attempt(() => r.store.usage(key));
    assertOutcome(this.toString(), expected, actual, (usage: Usage, want) => {
      assertEqual(`${this} size/blocks`, { size: usage.size, blocks: usage.blocks }, { size: want.size, blocks: want.blocks });
      if (want.pristine && usage.inodes !== 0) throw new Error(`${this}: inodes is ${usage.inodes} on a snapshot not written since it was made`);
      if (!Number.isInteger(usage.inodes) || usage.inodes < 0) throw new Error(`${this}: inodes is ${usage.inodes}`);
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    return `usage(${this.key})`;
  }
}
