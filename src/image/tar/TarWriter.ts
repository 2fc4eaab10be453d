import { fsError } from '../../core/errors.js';
import { encodeHeader, roundUp } from './encodeHeader.js';
import type { CompleteHeader } from './encodeHeader.js';
import type { TarWriterHeader, TarWriterType } from './TarEntry.js';
import { tarError } from './tarError.js';
import { BLOCK_SIZE } from './ustar.js';

/** A body `add` accepts: the bytes, or a stream of exactly `header.size` bytes. */
export type TarBody = Uint8Array | AsyncIterable<Uint8Array>;

interface Queued {
  readonly blocks: Uint8Array;
  readonly header: CompleteHeader;
  readonly body: TarBody | undefined;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

const MODES: Readonly<Record<TarWriterType, number>> = {
  file: 0o644, directory: 0o755, symlink: 0o777, hardlink: 0o644, char: 0o644, block: 0o644, fifo: 0o644,
};
/** The range of a `Date`, in milliseconds either side of the epoch. */
const MAX_TIME_MS = 8.64e15;

/**
 * Writes a tar archive as a byte stream: entries go in through `add`, in order, and the archive
 * comes out by iterating the writer (once; `Readable.from(writer, { objectMode: false })` makes a
 * `Readable` of it). Headers are as `encodeHeader` writes them (ustar, with a pax header where a
 * value needs one); the archive ends with two zero blocks and no further record padding.
 * Identical entries give byte-identical archives.
 *
 * Backpressure: `add` resolves once the consumer has taken the entry's last byte, so a producer
 * that awaits each `add` never runs ahead of the consumer by more than one entry; its body is
 * streamed, never buffered. `finish` resolves once the end of the archive has been taken.
 *
 * `add` rejects with `EINVAL` a header that cannot be written (see `encodeHeader`), leaving the
 * writer usable, and with a `TypeError` a wrong argument: a missing or non-integer field, a body
 * for a type that has none, a `Uint8Array` body whose length is not `size`, a call after
 * `finish`. A streamed body that is longer or shorter than `size` fails the archive with
 * `EINVAL`: the output stream errors, and this and every later `add` and `finish` reject with that
 * error (the writer is broken, as is one whose body stream throws). If the consumer stops
 * iterating before the end, what is pending rejects with `ABORT_ERR`. Rejections that the stream
 * reports too never count as unhandled.
 */
export class TarWriter implements AsyncIterable<Uint8Array> {
  readonly #queue: Queued[] = [];
  #wake: (() => void) | undefined;
  #finish: Deferred | undefined;
  #broken: unknown;
  #iterated = false;

  add(header: TarWriterHeader, body?: TarBody): Promise<void> {
    if (this.#broken !== undefined) return rejected(this.#broken);
    let complete: CompleteHeader;
    let blocks: Uint8Array;
    try {
      if (this.#finish !== undefined) throw new TypeError('TarWriter.add() after finish()');
      complete = completeHeader(header, body);
      blocks = encodeHeader(complete);
    } catch (error) {
      return Promise.reject(error);
    }
    const { promise, resolve, reject } = deferred();
    this.#queue.push({ blocks, header: complete, body, resolve, reject });
    this.#wake?.();
    return promise;
  }

  /** Ends the archive after the entries already added. Idempotent. */
  finish(): Promise<void> {
    if (this.#finish === undefined) {
      this.#finish = deferred();
      if (this.#broken !== undefined) this.#finish.reject(this.#broken);
      this.#wake?.();
    }
    return this.#finish.promise;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#iterated) throw new TypeError('a TarWriter can be iterated only once');
    this.#iterated = true;
    return this.#archive();
  }

  async *#archive(): AsyncGenerator<Uint8Array, void, undefined> {
    let current: Queued | undefined;
    let complete = false;
    try {
      for (;;) {
        while (this.#queue.length === 0 && this.#finish === undefined) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
        this.#wake = undefined;
        current = this.#queue.shift();
        if (current === undefined) break;
        yield current.blocks;
        yield* streamBody(current.header, current.body);
        current.resolve();
        current = undefined;
      }
      yield new Uint8Array(2 * BLOCK_SIZE);
      complete = true;
      this.#finish?.resolve();
    } catch (error) {
      this.#break(error, current);
      throw error;
    } finally {
      if (!complete) {
        const detail = 'the archive was closed before it was finished';
        this.#break(fsError('ABORT_ERR', { syscall: 'tar', detail }), current);
      }
    }
  }

  /** Fails closed: every pending and later call rejects with the first error. */
  #break(error: unknown, current: Queued | undefined): void {
    this.#broken ??= error;
    current?.reject(this.#broken);
    for (const queued of this.#queue.splice(0)) queued.reject(this.#broken);
    this.#finish?.reject(this.#broken);
  }
}

/** An entry's body, checked against its size, then its padding. */
async function* streamBody(
  header: CompleteHeader,
  body: TarBody | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { size, path } = header;
  if (body instanceof Uint8Array) {
    if (body.length > 0) yield body;
  } else if (body !== undefined) {
    let written = 0;
    for await (const chunk of body) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError(`the body of '${path}' yielded a non-Uint8Array`);
      written += chunk.length;
      if (written > size) throw tarError(`body is longer than its size (${size})`, path);
      if (chunk.length > 0) yield chunk;
    }
    if (written < size) throw tarError(`body is ${written} bytes, shorter than its size (${size})`, path);
  }
  if (roundUp(size) > size) yield new Uint8Array(roundUp(size) - size);
}

/** Checks `add`'s arguments and fills in the defaults; a `TypeError` names the first wrong one. */
function completeHeader(header: TarWriterHeader, body: TarBody | undefined): CompleteHeader {
  if (typeof header !== 'object' || header === null) throw new TypeError('a tar header must be an object');
  const { type } = header;
  if (typeof type !== 'string' || !Object.hasOwn(MODES, type)) {
    throw new TypeError(`cannot write a tar entry of type ${String(type)}`);
  }
  if (typeof header.path !== 'string' || header.path === '') throw new TypeError('a tar entry needs a path');
  const path = type === 'directory' && !header.path.endsWith('/') ? `${header.path}/` : header.path;

  const integer = (name: string, value: unknown): number => {
    if (value === undefined) return 0;
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      throw new TypeError(`${name} of '${path}' must be a non-negative integer`);
    }
    return value as number;
  };
  const text = (name: string, value: unknown): string => {
    if (value !== undefined && typeof value !== 'string') {
      throw new TypeError(`${name} of '${path}' must be a string`);
    }
    return (value as string | undefined) ?? '';
  };

  const mtimeMs = header.mtimeMs ?? 0;
  if (typeof mtimeMs !== 'number' || !(Math.abs(mtimeMs) <= MAX_TIME_MS)) {
    throw new TypeError(`mtimeMs of '${path}' must be a time a Date can hold`);
  }

  const linkTarget = text('linkTarget', header.linkTarget);
  if ((type === 'symlink' || type === 'hardlink') !== (linkTarget !== '')) {
    throw new TypeError(`'${path}': symlinks and hardlinks, and only they, need a linkTarget`);
  }

  let size = integer('size', header.size);
  if (type !== 'file') {
    if (size !== 0 || body !== undefined) throw new TypeError(`'${path}' is a ${type}: it has no body`);
  } else if (body instanceof Uint8Array) {
    if (header.size !== undefined && size !== body.length) {
      throw new TypeError(`'${path}': size ${size} but a body of ${body.length} bytes`);
    }
    size = body.length;
  } else if (body !== undefined) {
    if (typeof body[Symbol.asyncIterator] !== 'function') {
      throw new TypeError(`the body of '${path}' must be a Uint8Array or an AsyncIterable`);
    }
    if (header.size === undefined) throw new TypeError(`'${path}': a streamed body needs a size`);
  } else if (size !== 0) {
    throw new TypeError(`'${path}': a file of ${size} bytes needs a body`);
  }

  const xattrs = header.xattrs ?? new Map<string, Uint8Array>();
  for (const [key, value] of xattrs) {
    if (typeof key !== 'string' || !(value instanceof Uint8Array)) {
      throw new TypeError(`xattrs of '${path}' must map strings to Uint8Arrays`);
    }
  }

  return {
    path, type, size, mtimeMs, linkTarget, xattrs,
    mode: header.mode === undefined ? MODES[type] : integer('mode', header.mode),
    uid: integer('uid', header.uid),
    gid: integer('gid', header.gid),
    uname: text('uname', header.uname),
    gname: text('gname', header.gname),
    devMajor: integer('devMajor', header.devMajor),
    devMinor: integer('devMinor', header.devMinor),
  };
}

/**
 * A promise settled from outside. Its rejection counts as handled: an archive's failure is the
 * stream's error first, so an `add` or `finish` nobody awaits must not also crash the process.
 */
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function rejected(error: unknown): Promise<void> {
  const { promise, reject } = deferred();
  reject(error);
  return promise;
}
