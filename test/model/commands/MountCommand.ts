import fc from 'fast-check';
import type { Layer } from '../api.js';
import { assertEqual, assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type KeyRef } from './refs.js';

/** `mount(key)`: another layer on an existing snapshot, writable only when it is active. */
export class MountCommand implements UnionCommand {
  #index: number | undefined;

  constructor(readonly key: KeyRef) {}

  [fc.cloneMethod](): MountCommand {
    return new MountCommand(fresh(this.key));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    this.#index = m.handles.length;
    const expected = expectOf(() => m.mount(key));
    const actual = await attempt(() => r.store.mount(key));
    assertOutcome(this.toString(), expected, actual, (layer: Layer, { handle }) => {
      assertEqual(`${this} layer`, { key: layer.key, readOnly: layer.readOnly }, { key, readOnly: handle.readOnly });
      m.handles.push(handle);
      r.layers.push(layer);
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    return `L${this.#index ?? '+'} = mount(${this.key})`;
  }
}
