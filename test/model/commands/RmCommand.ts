import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `rm(path, { recursive, force })`: never follows the path; force forgives only ENOENT. */
export class RmCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly recursive: boolean,
    readonly force: boolean,
  ) {}

  [fc.cloneMethod](): RmCommand {
    return new RmCommand(fresh(this.layer), fresh(this.path), fresh(this.recursive), fresh(this.force));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, this.force ? 'write-may-noop' : 'write', (fs) => fs.rm(path, { recursive: this.recursive, force: this.force }));
    const actual = await attempt(() => layer.rm(path, { recursive: this.recursive, force: this.force }));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.rm(${this.path}, { recursive: ${this.recursive}, force: ${this.force} })`;
  }
}
