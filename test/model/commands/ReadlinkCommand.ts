import fc from 'fast-check';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `readlink(path)`: the target verbatim; EINVAL when the path is not a symlink. */
export class ReadlinkCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
  ) {}

  [fc.cloneMethod](): ReadlinkCommand {
    return new ReadlinkCommand(fresh(this.layer), fresh(this.path));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'read', (fs) => fs.readlink(path));
    const actual = await attempt(() => layer.readlink(path));
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.readlink(${this.path})`;
  }
}
