import fc from 'fast-check';
import { assertOutcome, attempt, expectOf } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { fresh, type KeyRef } from './refs.js';
import { assertSameStores } from '../tree.js';

/** `remove(key)`: ENOTEMPTY while it is a parent; afterwards its layers reject with EBADF. */
export class RemoveCommand implements UnionCommand {
  constructor(readonly key: KeyRef) {}

  [fc.cloneMethod](): RemoveCommand {
    return new RemoveCommand(fresh(this.key));
  }

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const key = this.key.resolve(m);
    const expected = expectOf(() => m.remove(key));
    const actual = await attempt(() => r.store.remove(key));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `remove(${this.key})`;
  }
}
