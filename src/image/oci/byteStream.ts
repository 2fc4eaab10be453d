import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fsError } from '../../core/errors.js';
import type { LongOperation } from '../../snapshots/Store.js';

/** What a layer can be read from: a file's path, its bytes, or a stream of them. */
export type LayerSource = string | Uint8Array | Readable | AsyncIterable<Uint8Array>;

/** A source opened for reading; `total` is its length in bytes when known. */
export interface OpenedSource {
  readonly stream: AsyncIterable<Uint8Array>;
  readonly total: number | undefined;
}

/** Opens a layer source; a path that cannot be read rejects as `node:fs` does (`ENOENT`…). */
export async function openSource(source: LayerSource): Promise<OpenedSource> {
  if (typeof source === 'string') {
    const stats = await stat(source);
    if (!stats.isFile()) throw fsError('EINVAL', { syscall: 'open', path: source, detail: 'not a regular file' });
    return { stream: createReadStream(source), total: stats.size };
  }
  if (source instanceof Uint8Array) return { stream: Readable.from([source], { objectMode: false }), total: source.length };
  if (typeof source === 'object' && source !== null && typeof (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    return { stream: source, total: undefined };
  }
  throw new TypeError('a layer source must be a path, a Buffer or a Readable');
}

/**
 * The stream, counting the bytes that pass and reporting them through `onProgress` as
 * `{ done, total, unit: 'bytes' }` (at most once per chunk).
 */
export async function* counted(
  stream: AsyncIterable<Uint8Array>, total: number | undefined, onProgress: LongOperation['onProgress'], start = 0,
): AsyncGenerator<Uint8Array, void, undefined> {
  let done = start;
  for await (const chunk of stream) {
    done += chunk.length;
    onProgress?.(total === undefined ? { done, unit: 'bytes' } : { done, total, unit: 'bytes' });
    yield chunk;
  }
}

/** Rejects with `ABORT_ERR` (as `node:fs` calls do, the signal's reason as `cause`) once `signal` is aborted. */
export function checkAborted(signal: AbortSignal | undefined, syscall: string, path?: string): void {
  if (signal?.aborted === true) throw fsError('ABORT_ERR', { syscall, path, cause: signal.reason });
}
