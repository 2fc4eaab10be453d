import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `truncate(path, len)`: shrinks, or extends with zeros (a hole). */
export class TruncateCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly len: number,
  ) {}

  [fc.cloneMethod](): TruncateCommand {
    return new TruncateCommand(fresh(this.layer), fresh(this.path), fresh(this.len));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.truncate(path, this.len));
    const actual = await attempt(() => layer.truncate(path, this.len));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.truncate(${this.path}, ${this.len})`;
  }
}
