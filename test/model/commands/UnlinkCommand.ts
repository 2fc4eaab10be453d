import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `unlink(path)`: removes a name (a symlink itself); a directory is EISDIR. */
export class UnlinkCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
  ) {}

  [fc.cloneMethod](): UnlinkCommand {
    return new UnlinkCommand(fresh(this.layer), fresh(this.path));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.unlink(path));
    const actual = await attempt(() => layer.unlink(path));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.unlink(${this.path})`;
  }
}
