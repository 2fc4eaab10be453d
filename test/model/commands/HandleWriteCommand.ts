import fc from 'fast-check';
import type { FileHandle } from '../api.js';
import { type Bytes, octal } from '../arbitraries.js';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { ModelFileHandle, OpenFlags } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

export type HandleOp = { kind: 'write'; position: number; data: Bytes } | { kind: 'truncate'; len: number };

export type WriteFlags = Extract<OpenFlags, 'r+' | 'w' | 'w+' | 'wx' | 'a' | 'a+'>;

interface Result {
  written: number[];
  size: number;
  /** The whole file read back through the handle, for flags that read. */
  contents: Buffer | undefined;
}

/**
 * `open(path, flags, mode)`, then positional writes and truncates through the FileHandle, then
 * `stat()` and (for readable flags) the file read back through the handle, then `close()`.
 * In append mode ('a', 'a+') Linux ignores the position of a write and appends.
 */
export class HandleWriteCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly flags: WriteFlags,
    readonly mode: number | undefined,
    readonly ops: readonly HandleOp[],
  ) {}

  [fc.cloneMethod](): HandleWriteCommand {
    return new HandleWriteCommand(fresh(this.layer), fresh(this.path), fresh(this.flags), fresh(this.mode), fresh(this.ops));
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  #readable(): boolean {
    return this.flags === 'r+' || this.flags === 'w+' || this.flags === 'a+';
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    const path = this.path.resolve(fs);
    const payloads = this.ops.map((op) => (op.kind === 'write' ? op.data.make() : undefined));
    const expected = m.onLayer(handle, 'write', (fs): Result => {
      const fh: ModelFileHandle = fs.open(path, this.flags, this.mode);
      const written: number[] = [];
      this.ops.forEach((op, i) => {
        if (op.kind === 'write') written.push(fh.write(payloads[i]!, op.position));
        else fh.truncate(op.len);
      });
      const size = fh.stat().size!;
      return { written, size, contents: this.#readable() ? fh.read(size, 0) : undefined };
    });
    const actual = await attempt(async (): Promise<Result> => {
      const fh: FileHandle = await layer.open(path, this.flags, this.mode);
      try {
        const written: number[] = [];
        for (const [i, op] of this.ops.entries()) {
          if (op.kind === 'write') {
            const bytes = payloads[i]!;
            written.push((await fh.write(bytes, 0, bytes.length, op.position)).bytesWritten);
          } else {
            await fh.truncate(op.len);
          }
        }
        const size = (await fh.stat()).size;
        let contents: Buffer | undefined;
        if (this.#readable()) {
          contents = Buffer.alloc(size);
          const { bytesRead } = await fh.read(contents, 0, size, 0);
          contents = contents.subarray(0, bytesRead);
        }
        return { written, size, contents };
      } finally {
        await fh.close();
      }
    });
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    await assertSameStores(m, r);
  }

  toString(): string {
    const ops = this.ops.map((op) => (op.kind === 'write' ? `write(${op.data}, @${op.position})` : `truncate(${op.len})`));
    return `${this.layer}.open(${this.path}, '${this.flags}', ${octal(this.mode)}) then ${ops.join(', ')}`;
  }
}
