import fc from 'fast-check';
import type { Readable } from 'node:stream';
import { assertEqual, assertOutcome, attempt } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

/** `createReadStream(path, { start, end })`: the bytes from `start` to `end` inclusive, as node's. */
export class ReadStreamCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly start: number | undefined,
    readonly end: number | undefined,
  ) {}

  [fc.cloneMethod](): ReadStreamCommand {
    return new ReadStreamCommand(fresh(this.layer), fresh(this.path), this.start, this.end);
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  #options(): { start?: number; end?: number } {
    return { ...(this.start === undefined ? {} : { start: this.start }), ...(this.end === undefined ? {} : { end: this.end }) };
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const path = this.path.resolve(m.live(handle)?.fs);
    const expected = m.onLayer(handle, 'read', (fs) => fs.readFile(path).subarray(this.start ?? 0, this.end === undefined ? undefined : this.end + 1));
    const actual = await attempt(async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of layer.createReadStream(path, this.#options()) as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks);
    });
    assertOutcome(this.toString(), expected, actual, (got, want) => assertEqual(this.toString(), got, want));
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.createReadStream(${this.path}, ${JSON.stringify(this.#options())})`;
  }
}
