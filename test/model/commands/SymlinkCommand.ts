import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `symlink(target, path)`: relative, absolute, dangling and looping targets. */
export class SymlinkCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly target: string,
    readonly path: PathRef,
  ) {}

  [fc.cloneMethod](): SymlinkCommand {
    return new SymlinkCommand(fresh(this.layer), fresh(this.target), fresh(this.path));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.symlink(this.target, path));
    const actual = await attempt(() => layer.symlink(this.target, path));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.symlink(${JSON.stringify(this.target)}, ${this.path})`;
  }
}
