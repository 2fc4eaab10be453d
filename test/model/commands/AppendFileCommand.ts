import fc from 'fast-check';
import type { Bytes } from '../arbitraries.js';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `appendFile(path, data)`: creates when missing, else appends, following a final symlink. */
export class AppendFileCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly data: Bytes,
  ) {}

  [fc.cloneMethod](): AppendFileCommand {
    return new AppendFileCommand(fresh(this.layer), fresh(this.path), fresh(this.data));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const bytes = this.data.make();
    const expected = m.onLayer(handle, 'write', (fs) => fs.appendFile(path, bytes));
    const actual = await attempt(() => layer.appendFile(path, bytes));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.appendFile(${this.path}, ${this.data})`;
  }
}
