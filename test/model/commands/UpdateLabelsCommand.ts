import fc from 'fast-check';
import type { SnapshotInfo } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { fresh, type KeyRef } from './refs.js';
import { assertSameStores } from '../tree.js';

/** `update(key, { labels })`: replaces the labels, whatever the kind. */
export class UpdateLabelsCommand implements UnionCommand {
  constructor(
    readonly key: KeyRef,
    readonly labels: Record<string, string>,
  ) {}

  [fc.cloneMethod](): UpdateLabelsCommand {
    return new UpdateLabelsCommand(fresh(this.key), fresh(this.labels));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const expected = expectOf(() => m.update(key, this.labels));
    const actual = await attempt(() => r.store.update(key, { labels: this.labels }));
    assertOutcome(this.toString(), expected, actual, (info: SnapshotInfo) => assertEqual(this.toString(), info.labels, this.labels));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `update(${this.key}, { labels: ${JSON.stringify(this.labels)} })`;
  }
}
