import fc from 'fast-check';
import type { FileHandle } from '../api.js';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

interface Result {
  bytesRead: number;
  bytes: Buffer;
  size: number;
  whole: Buffer;
}

/**
 * `open(path, 'r')`, a positional `read`, `stat()`, then `readFile()` (which starts at the file
 * position, still 0: a positional read leaves it alone, as in node), then `close()`. A directory
 * opens on Linux and its read fails with EISDIR; the engine may reject at open or at read.
 */
export class HandleReadCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly position: number,
    readonly length: number,
  ) {}

  [fc.cloneMethod](): HandleReadCommand {
    return new HandleReadCommand(fresh(this.layer), fresh(this.path), fresh(this.position), fresh(this.length));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const expected = m.onLayer(handle, 'read', (fs): Result => {
      const fh = fs.open(path, 'r');
      const bytes = fh.read(this.length, this.position);
      const size = fh.stat().size!;
      return { bytesRead: bytes.length, bytes, size, whole: fh.read(size, 0) };
    });
    const actual = await attempt(async (): Promise<Result> => {
      const fh: FileHandle = await layer.open(path, 'r');
      try {
        const buffer = Buffer.alloc(this.length);
        const { bytesRead } = await fh.read(buffer, 0, this.length, this.position);
        const size = (await fh.stat()).size;
        return { bytesRead, bytes: buffer.subarray(0, bytesRead), size, whole: await fh.readFile() };
      } finally {
        await fh.close();
      }
    });
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.open(${this.path}, 'r') then read(${this.length} @${this.position}), stat(), readFile()`;
  }
}
