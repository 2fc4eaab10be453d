import fc from 'fast-check';
import type { Layer } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type KeyRef } from './refs.js';

/** `prepare(key, parent?, { labels })`: a new active snapshot holding the committed parent's tree; its layer joins the run's layers. */
export class PrepareCommand implements UnionCommand {
  #index: number | undefined;

  constructor(
    readonly key: KeyRef,
    readonly parent: KeyRef | undefined,
    readonly labels: Record<string, string> | undefined,
  ) {}

  [fc.cloneMethod](): PrepareCommand {
    return new PrepareCommand(fresh(this.key), fresh(this.parent), fresh(this.labels));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const parent = this.parent?.resolve(m);
    this.#index = m.handles.length;
    const expected = expectOf(() => m.prepare(key, parent, this.labels));
    const actual = await attempt(() => r.store.prepare(key, parent, this.labels === undefined ? undefined : { labels: this.labels }));
    assertOutcome(this.toString(), expected, actual, (layer: Layer, snapshot) => {
      assertEqual(`${this} layer`, { key: layer.key, readOnly: layer.readOnly }, { key, readOnly: false });
      m.handles.push({ key, snapshotId: snapshot.id, readOnly: false });
      r.layers.push(layer);
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    const labels = this.labels === undefined ? '' : `, { labels: ${JSON.stringify(this.labels)} }`;
    const parent = this.parent === undefined ? '' : `, ${this.parent}`;
    return `L${this.#index ?? '+'} = prepare(${this.key}${parent}${labels})`;
  }
}
