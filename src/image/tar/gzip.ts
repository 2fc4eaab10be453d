import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { tarError } from './tarError.js';

/** True when `bytes` begins with gzip's magic, 0x1f 0x8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The stream, gunzipped when its first two bytes are gzip's magic and passed through untouched
 * otherwise, so a reader takes tar and tar.gz alike. Decompression streams (zlib's 16 KiB
 * chunks, pulled as the consumer reads), so a gzip bomb costs time, not memory; bound the time
 * with `TarReader`'s `maxBytes`. Corrupt or truncated gzip data, or bytes after it, reject with
 * `EINVAL` (syscall `tar`); errors of the stream itself pass through. Stopping early, or an
 * error, closes the stream.
 */
export async function* maybeGunzip(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
  const iterator = stream[Symbol.asyncIterator]();
  let complete = false;
  try {
    const head: Uint8Array[] = [];
    let headLength = 0;
    let ended = false;
    while (headLength < 2) {
      const result = await iterator.next();
      if (result.done === true) {
        ended = true;
        break;
      }
      head.push(result.value);
      headLength += result.value.length;
    }
    const rest: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => iterator };
    const replay = async function* (): AsyncGenerator<Uint8Array, void, undefined> {
      yield* head;
      if (!ended) yield* rest;
    };
    if (isGzip(head.length === 1 ? head[0]! : Buffer.concat(head))) {
      const gunzip = createGunzip();
      pipeline(replay(), gunzip, () => {}); // an error reaches the loop below: pipeline destroys gunzip with it
      yield* gunzipped(gunzip);
    } else {
      yield* replay();
    }
    complete = true;
  } finally {
    if (!complete) close(stream, iterator);
  }
}

async function* gunzipped(gunzip: Readable): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw typeof code === 'string' && code.startsWith('Z_') ? tarError('corrupt gzip stream', undefined, error) : error;
  }
}

/**
 * Stops a stream before its end. zlib reads ahead, so the stream may be waiting for data, where
 * `return()` would wait too: a `Readable` is destroyed at once instead.
 */
function close(stream: AsyncIterable<Uint8Array>, iterator: AsyncIterator<Uint8Array>): void {
  const { destroy } = stream as Partial<Readable>;
  if (typeof destroy === 'function') destroy.call(stream);
  else iterator.return?.()?.catch(() => {});
}

/**
 * The stream gzip-compressed, as a `Readable`. Deterministic: zlib writes no file name and a zero
 * time in the gzip header, so equal input at equal `level` gives equal bytes (for one zlib).
 */
export function gzip(stream: AsyncIterable<Uint8Array>, level?: number): Readable {
  const out = createGzip(level === undefined ? {} : { level });
  pipeline(stream, out, () => {}); // an error of `stream` destroys `out` with it
  return out;
}
