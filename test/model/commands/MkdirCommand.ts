import fc from 'fast-check';
import { octal } from '../arbitraries.js';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `mkdir(path, { recursive, mode })`: node's semantics, including its recursive algorithm (see ReferenceFs.mkdir). */
export class MkdirCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly recursive: boolean,
    readonly mode: number | undefined,
  ) {}

  [fc.cloneMethod](): MkdirCommand {
    return new MkdirCommand(fresh(this.layer), fresh(this.path), fresh(this.recursive), fresh(this.mode));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, this.recursive ? 'write-may-noop' : 'write', (fs) => fs.mkdir(path, { recursive: this.recursive, mode: this.mode }));
    const actual = await attempt(() => layer.mkdir(path, this.#options()));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  #options(): { recursive?: boolean; mode?: number } {
    const options: { recursive?: boolean; mode?: number } = {};
    if (this.recursive) options.recursive = true;
    if (this.mode !== undefined) options.mode = this.mode;
    return options;
  }

  toString(): string {
    return `${this.layer}.mkdir(${this.path}, { recursive: ${this.recursive}, mode: ${octal(this.mode)} })`;
  }
}
