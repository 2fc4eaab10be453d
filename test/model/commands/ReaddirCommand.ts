import fc from 'fast-check';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { NodeType } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `readdir(path)` (sorted names) and `readdir(path, { withFileTypes: true })`, following symlinks. */
export class ReaddirCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly withFileTypes: boolean,
  ) {}

  [fc.cloneMethod](): ReaddirCommand {
    return new ReaddirCommand(fresh(this.layer), fresh(this.path), fresh(this.withFileTypes));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'read', (fs) => fs.readdir(path).map((e) => (this.withFileTypes ? `${e.name}:${e.type}` : e.name)));
    const actual = await attempt(async () => {
      if (!this.withFileTypes) return layer.readdir(path);
      const dirents = await layer.readdir(path, { withFileTypes: true });
      return dirents.map((d) => `${d.name}:${direntType(d)}`);
    });
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.readdir(${this.path}${this.withFileTypes ? ', { withFileTypes: true }' : ''})`;
  }
}

function direntType(d: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): NodeType | 'unknown' {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'symlink';
  return 'unknown';
}
