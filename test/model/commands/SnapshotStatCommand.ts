import fc from 'fast-check';
import type { SnapshotInfo } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { fresh, type KeyRef } from './refs.js';
import { assertSameStores, modelInfo, realInfo } from '../tree.js';

/** `store.stat(key)`: kind, parent and (where known) labels. */
export class SnapshotStatCommand implements UnionCommand {
  constructor(readonly key: KeyRef) {}

  [fc.cloneMethod](): SnapshotStatCommand {
    return new SnapshotStatCommand(fresh(this.key));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const expected = expectOf(() => m.stat(key));
    const actual = await attempt(() => r.store.stat(key));
    assertOutcome(this.toString(), expected, actual, (info: SnapshotInfo, snapshot) => {
      assertEqual(this.toString(), realInfo(info), modelInfo(snapshot));
      if (snapshot.labels !== undefined) assertEqual(`${this} labels`, info.labels, snapshot.labels);
      if (!(info.created instanceof Date) || !(info.updated instanceof Date)) throw new Error(`${this}: created/updated are not Dates`);
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    return `stat(${this.key})`;
  }
}
