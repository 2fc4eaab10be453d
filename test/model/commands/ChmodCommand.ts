import fc from 'fast-check';
import { octal } from '../arbitraries.js';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `chmod(path, mode)`: follows symlinks; the mode is stored as given. */
export class ChmodCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly mode: number,
  ) {}

  [fc.cloneMethod](): ChmodCommand {
    return new ChmodCommand(fresh(this.layer), fresh(this.path), fresh(this.mode));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.chmod(path, this.mode));
    const actual = await attempt(() => layer.chmod(path, this.mode));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.chmod(${this.path}, ${octal(this.mode)})`;
  }
}
