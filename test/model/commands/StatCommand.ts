import fc from 'fast-check';
import type { Stats } from '../api.js';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { ModelStats } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `stat(path)` or `lstat(path)`: type, mode with type bits, owner, link count and size (not for directories). */
export class StatCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly follow: boolean,
  ) {}

  [fc.cloneMethod](): StatCommand {
    return new StatCommand(fresh(this.layer), fresh(this.path), fresh(this.follow));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'read', (fs) => summary(this.follow ? fs.stat(path) : fs.lstat(path)));
    const actual = await attempt(async () => realSummary(this.follow ? await layer.stat(path) : await layer.lstat(path)));
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.${this.follow ? 'stat' : 'lstat'}(${this.path})`;
  }
}

function summary(s: ModelStats): Record<string, unknown> {
  return { type: s.type, mode: s.mode.toString(8), uid: s.uid, gid: s.gid, nlink: s.nlink, size: s.size ?? null };
}

function realSummary(s: Stats): Record<string, unknown> {
  const type = s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : s.isFile() ? 'file' : 'unknown';
  return { type, mode: s.mode.toString(8), uid: s.uid, gid: s.gid, nlink: s.nlink, size: type === 'dir' ? null : s.size };
}
