import fc from 'fast-check';
import { finished } from 'node:stream/promises';
import type { Bytes } from '../arbitraries.js';
import { assertOutcome, attempt } from '../outcome.js';
import type { OpenFlags } from '../ReferenceFs.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

export type StreamFlags = Extract<OpenFlags, 'w' | 'r+' | 'a'>;

/**
 * `createWriteStream(path, { start, flags })`, written in chunks, then ended: as node's, the file
 * is opened with `flags` (default 'w') and the chunks land one after the other from `start`
 * (default 0), or at the end in append mode.
 */
export class WriteStreamCommand implements UnionCommand {
  constructor(
    readonly layer: LayerRef,
    readonly path: PathRef,
    readonly flags: StreamFlags | undefined,
    readonly start: number | undefined,
    readonly chunks: readonly Bytes[],
  ) {}

  [fc.cloneMethod](): WriteStreamCommand {
    return new WriteStreamCommand(fresh(this.layer), fresh(this.path), this.flags, this.start, this.chunks);
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  #options(): { start?: number; flags?: StreamFlags } {
    return { ...(this.start === undefined ? {} : { start: this.start }), ...(this.flags === undefined ? {} : { flags: this.flags }) };
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const path = this.path.resolve(m.live(handle)?.fs);
    const data = this.chunks.map((c) => c.make());
    const expected = m.onLayer(handle, 'write', (fs) => {
      const fh = fs.open(path, this.flags ?? 'w');
      let at = this.start ?? 0;
      for (const chunk of data) at += fh.write(chunk, at);
    });
    const actual = await attempt(async () => {
      const stream = layer.createWriteStream(path, this.#options());
      for (const chunk of data) stream.write(chunk);
      stream.end();
      await finished(stream);
    });
    assertOutcome(this.toString(), expected, actual);
    await assertSameStores(m, r);
  }

  toString(): string {
    return `${this.layer}.createWriteStream(${this.path}, ${JSON.stringify(this.#options())}) ← [${this.chunks.join(', ')}]`;
  }
}
