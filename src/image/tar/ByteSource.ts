import { tarError } from './tarError.js';

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Reads a byte stream (any `AsyncIterable<Uint8Array>`) by counts rather than by the chunks it
 * happens to arrive in. It holds at most one chunk of the stream, plus the copy `read` makes when
 * a request spans chunks: memory is bounded by the stream's chunk size and the largest `read`.
 *
 * Counts every byte it pulls against `maxBytes` and rejects with `EINVAL` past it. Not safe for
 * overlapping calls: each must settle before the next.
 */
export class ByteSource {
  readonly #stream: AsyncIterable<unknown>;
  readonly #maxBytes: number;
  /** Made at the first read, so that a source never read never starts its stream. */
  #iterator: AsyncIterator<unknown> | undefined;
  #chunk: Uint8Array = EMPTY;
  #total = 0;
  #ended = false;

  constructor(stream: AsyncIterable<Uint8Array>, maxBytes: number) {
    this.#stream = stream;
    this.#maxBytes = maxBytes;
  }

  /** Up to `max` (> 0) bytes, without copying; `undefined` at the end of the stream. */
  async next(max: number): Promise<Uint8Array | undefined> {
    if (this.#chunk.length === 0 && !(await this.#pull())) return undefined;
    const out = this.#chunk.subarray(0, max);
    this.#chunk = this.#chunk.subarray(out.length);
    return out;
  }

  /** Exactly `length` bytes, or fewer only when the stream ends first. */
  async read(length: number): Promise<Uint8Array> {
    if (length === 0) return EMPTY;
    const first = await this.next(length);
    if (first === undefined) return EMPTY;
    if (first.length === length) return first;
    const out = new Uint8Array(length);
    out.set(first);
    let filled = first.length;
    while (filled < length) {
      const more = await this.next(length - filled);
      if (more === undefined) return out.subarray(0, filled);
      out.set(more, filled);
      filled += more.length;
    }
    return out;
  }

  /** Discards `length` bytes; resolves to how many were there (fewer when the stream ended). */
  async skip(length: number): Promise<number> {
    let skipped = 0;
    while (skipped < length) {
      const chunk = await this.next(length - skipped);
      if (chunk === undefined) break;
      skipped += chunk.length;
    }
    return skipped;
  }

  /** Reads and discards the rest of the stream, so its own errors (a gzip checksum) surface. */
  async drain(): Promise<void> {
    this.#chunk = EMPTY;
    while (await this.#pull()) this.#chunk = EMPTY;
  }

  /** Stops the stream early (a `Readable` is destroyed). Idempotent. */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.#chunk = EMPTY;
    await this.#iterator?.return?.();
  }

  async #pull(): Promise<boolean> {
    this.#iterator ??= this.#stream[Symbol.asyncIterator]();
    while (!this.#ended) {
      const result = await this.#iterator.next();
      if (result.done === true) {
        this.#ended = true;
        return false;
      }
      const chunk = result.value;
      if (!(chunk instanceof Uint8Array)) throw new TypeError('a tar stream must yield Uint8Array chunks');
      if (chunk.length === 0) continue;
      this.#total += chunk.length;
      if (this.#total > this.#maxBytes) throw tarError(`archive is larger than maxBytes (${this.#maxBytes})`);
      this.#chunk = chunk;
      return true;
    }
    return false;
  }
}
