import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `rmdir(path)`: an empty directory only; a symlink to one is ENOTDIR. */
export class RmdirCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
  ) {}

  [fc.cloneMethod](): RmdirCommand {
    return new RmdirCommand(fresh(this.layer), fresh(this.path));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.rmdir(path));
    const actual = await attempt(() => layer.rmdir(path));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.rmdir(${this.path})`;
  }
}
