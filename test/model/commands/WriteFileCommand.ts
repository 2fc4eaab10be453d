import fc from 'fast-check';
import { type Bytes, octal } from '../arbitraries.js';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `writeFile(path, data, { mode })`: creates (with the mode) or truncates, following a final symlink. */
export class WriteFileCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly data: Bytes,
    readonly mode: number | undefined,
  ) {}

  [fc.cloneMethod](): WriteFileCommand {
    return new WriteFileCommand(fresh(this.layer), fresh(this.path), fresh(this.data), fresh(this.mode));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const bytes = this.data.make();
    const expected = m.onLayer(handle, 'write', (fs) => fs.writeFile(path, bytes, this.mode));
    const actual = await attempt(() => layer.writeFile(path, bytes, this.mode === undefined ? undefined : { mode: this.mode }));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    const options = this.mode === undefined ? '' : `, { mode: ${octal(this.mode)} }`;
    return `${this.layer}.writeFile(${this.path}, ${this.data}${options})`;
  }
}
