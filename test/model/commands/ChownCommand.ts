import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `chown(path, uid, gid)`: follows symlinks. */
export class ChownCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly uid: number,
    readonly gid: number,
  ) {}

  [fc.cloneMethod](): ChownCommand {
    return new ChownCommand(fresh(this.layer), fresh(this.path), fresh(this.uid), fresh(this.gid));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.chown(path, this.uid, this.gid));
    const actual = await attempt(() => layer.chown(path, this.uid, this.gid));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.chown(${this.path}, ${this.uid}, ${this.gid})`;
  }
}
