import fc from 'fast-check';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `readFile(path)` and `access(path)`, through symlinks, `.`, `..` and `//`. */
export class ReadFileCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
  ) {}

  [fc.cloneMethod](): ReadFileCommand {
    return new ReadFileCommand(fresh(this.layer), fresh(this.path));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'read', (fs) => fs.readFile(path));
    const actual = await attempt(() => layer.readFile(path));
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    const access = `${this.layer}.access(${JSON.stringify(path)})`;
    assertOutcome(access, m.onLayer(handle, 'read', (fs) => fs.access(path)), await attempt(() => layer.access(path)));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.readFile(${this.path})`;
  }
}
