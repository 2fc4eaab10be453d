import { createHash, type Hash } from 'node:crypto';
import { fsError } from '../core/errors.js';

/**
 * An OCI content digest as cowstack accepts it: `sha256:` and 64 lowercase hex digits, nothing
 * else (no other algorithm, no upper case, no whitespace). A branded string, made only by
 * `parseDigest`, `digestOf` and `DigestStream.digest`, so a `Digest` can name a file in
 * `blobs/sha256/` without any further check: it holds no `/`, `.` or NUL.
 */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Checks an untrusted value (from a manifest, an index, a config) before it names anything.
 * Rejects with `EINVAL` (syscall `digest`, `path` = `what`, naming where the value came from).
 */
export function parseDigest(value: unknown, what: string): Digest {
  if (typeof value !== 'string' || !DIGEST.test(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 100)) : typeof value;
    throw fsError('EINVAL', { syscall: 'digest', path: what, detail: `${shown} is not a digest of the form sha256:<64 lowercase hex digits>` });
  }
  return value as Digest;
}

/** True when `value` is a well-formed digest. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST.test(value);
}

/** The 64 hex digits of a digest: its file name under `blobs/sha256/`. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The digest of some bytes. */
export function digestOf(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/**
 * OCI chain IDs (image-spec config.md, "Layer ChainID"): chainID(L0) = diffID(L0) and
 * chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)), as hex digits after `sha256:`. A chain
 * ID names a layer together with every layer below it, so equal chain IDs are equal file systems.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffId of diffIds) {
    const below = out[out.length - 1];
    out.push(below === undefined ? diffId : digestOf(`${below} ${diffId}`));
  }
  return out;
}

/**
 * Hashes a byte stream as it passes through: iterate `tap(stream)` in place of the stream, and
 * read `digest()` and `size` once it has ended. Iterating only part of it leaves `digest()` to
 * throw a `TypeError`: a digest of part of a blob must never be mistaken for the blob's.
 */
export class DigestStream {
  readonly #hash: Hash | undefined;
  #size = 0;
  #ended = false;

  /** With `hashing` false it only counts bytes (`digest()` then throws): for a stream whose digest nobody checks. */
  constructor(hashing = true) {
    this.#hash = hashing ? createHash('sha256') : undefined;
  }

  async *tap(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of stream) {
      this.#hash?.update(chunk);
      this.#size += chunk.length;
      yield chunk;
    }
    this.#ended = true;
  }

  get size(): number {
    return this.#size;
  }

  digest(): Digest {
    if (this.#hash === undefined) throw new TypeError('this stream counts bytes only: it has no digest');
    if (!this.#ended) throw new TypeError('the stream has not ended: its digest is not known');
    return `sha256:${this.#hash.copy().digest('hex')}` as Digest;
  }
}

/**
 * Rejects with `EINTEGRITY` when `actual` is not `expected`: `what` names the blob (its digest, or
 * its name in the image) in `path`.
 */
export function checkDigest(actual: Digest, expected: Digest, what: string): void {
  if (actual !== expected) {
    throw fsError('EINTEGRITY', { syscall: 'digest', path: what, detail: `content is ${actual}, expected ${expected}` });
  }
}
