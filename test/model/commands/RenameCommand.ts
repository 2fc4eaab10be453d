import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `rename(from, to)`: files, directories and symlinks, within and across directories, with rename(2)'s rules (see ReferenceFs.rename). */
export class RenameCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly from: PathRef,
    readonly to: PathRef,
  ) {}

  [fc.cloneMethod](): RenameCommand {
    return new RenameCommand(fresh(this.layer), fresh(this.from), fresh(this.to));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const from = this.from.resolve(fs);
    const to = this.to.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.rename(from, to));
    const actual = await attempt(() => layer.rename(from, to));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.rename(${this.from}, ${this.to})`;
  }
}
