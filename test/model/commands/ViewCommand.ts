import fc from 'fast-check';
import type { Layer } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type KeyRef } from './refs.js';

/** `view(key, parent)`: a read-only snapshot of a committed parent; writes to its layer reject with EROFS. */
export class ViewCommand implements UnionCommand {
  #index: number | undefined;

  constructor(
    readonly key: KeyRef,
    readonly parent: KeyRef,
    readonly labels: Record<string, string> | undefined,
  ) {}

  [fc.cloneMethod](): ViewCommand {
    return new ViewCommand(fresh(this.key), fresh(this.parent), fresh(this.labels));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const parent = this.parent.resolve(m);
    this.#index = m.handles.length;
    const expected = expectOf(() => m.view(key, parent, this.labels));
    const actual = await attempt(() => r.store.view(key, parent, this.labels === undefined ? undefined : { labels: this.labels }));
    assertOutcome(this.toString(), expected, actual, (layer: Layer, snapshot) => {
      assertEqual(`${this} layer`, { key: layer.key, readOnly: layer.readOnly }, { key, readOnly: true });
      m.handles.push({ key, snapshotId: snapshot.id, readOnly: true });
      r.layers.push(layer);
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    const labels = this.labels === undefined ? '' : `, { labels: ${JSON.stringify(this.labels)} }`;
    return `L${this.#index ?? '+'} = view(${this.key}, ${this.parent}${labels})`;
  }
}
