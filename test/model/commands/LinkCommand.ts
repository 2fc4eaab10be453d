import fc from 'fast-check';
import { assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `link(existing, newPath)`: a second name for one inode (writes through one show through the other); a directory is EPERM. */
export class LinkCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly existing: PathRef,
    readonly newPath: PathRef,
  ) {}

  [fc.cloneMethod](): LinkCommand {
    return new LinkCommand(fresh(this.layer), fresh(this.existing), fresh(this.newPath));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const existing = this.existing.resolve(fs);
    const newPath = this.newPath.resolve(fs);
    const expected = m.onLayer(handle, 'write', (fs) => fs.link(existing, newPath));
    const actual = await attempt(() => layer.link(existing, newPath));
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.link(${this.existing}, ${this.newPath})`;
  }
}
