import fc from 'fast-check';
import type { SnapshotInfo } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores, modelInfo, realInfo } from '../tree.js';
import { fresh, type KeyRef } from './refs.js';

/**
 * `commit(name, key, { keep, labels })`. Without keep, `key` ceases to exist and its layers turn
 * EBADF (the run's later commands on them check it); with keep, `key` stays active on top of `name`.
 */
export class CommitCommand implements UnionCommand {
  constructor(
    readonly name: KeyRef,
    readonly key: KeyRef,
    readonly keep: boolean,
    readonly labels: Record<string, string> | undefined,
  ) {}

  [fc.cloneMethod](): CommitCommand {
    return new CommitCommand(fresh(this.name), fresh(this.key), fresh(this.keep), fresh(this.labels));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const name = this.name.resolve(m);
    const key = this.key.resolve(m);
    const expected = expectOf(() => m.commit(name, key, this.keep, this.labels));
    const options: { keep?: boolean; labels?: Record<string, string> } = {};
    if (this.keep) options.keep = true;
    if (this.labels !== undefined) options.labels = this.labels;
    const actual = await attempt(() => r.store.commit(name, key, options));
    assertOutcome(this.toString(), expected, actual, (info: SnapshotInfo, snapshot) => {
      assertEqual(`${this} result`, realInfo(info), modelInfo(snapshot));
      if (snapshot.labels !== undefined) assertEqual(`${this} labels`, info.labels, snapshot.labels);
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    const options = [this.keep ? 'keep: true' : '', this.labels === undefined ? '' : `labels: ${JSON.stringify(this.labels)}`].filter(Boolean);
    return `commit(${this.name}, ${this.key}${options.length ? `, { ${options.join(', ')} }` : ''})`;
  }
}
