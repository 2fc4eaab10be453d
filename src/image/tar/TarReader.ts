import { ByteSource } from './ByteSource.js';
import { TAR_LIMITS, decodePath } from './limits.js';
import { parsePax, parsePaxInteger, parsePaxTime } from './pax.js';
import type { PaxRecords } from './pax.js';
import type { TarEntry, TarEntryHeader, TarEntryType } from './TarEntry.js';
import { tarError } from './tarError.js';
import {
  BLOCK_SIZE, FIELDS, GNU_EXTENSION_IS_EXTENDED, checksumMatches, isEndBlock, parseHeader, parseNumeric,
} from './ustar.js';
import type { RawHeader } from './ustar.js';

export interface TarReaderOptions {
  /** The most bytes of tar stream (after gunzip) the reader will pull; more is `EINVAL`. */
  readonly maxBytes?: number;
  /** The most entries the archive may hold (pax and GNU extension headers not counted). */
  readonly maxEntries?: number;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file', '\0': 'file', '7': 'file', // '7' is a contiguous file, a regular file to everyone
  '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'directory', '6': 'fifo',
};
/** Types that carry no data whatever their size field says. */
const HEADER_ONLY: ReadonlySet<TarEntryType> = new Set(['hardlink', 'symlink', 'char', 'block', 'directory', 'fifo']);
const XATTR_PREFIX = 'SCHILY.xattr.';
const SPARSE_PREFIX = 'GNU.sparse.';
const SLASH = 0x2f;
const lossyUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Reads a tar archive from a byte stream, one entry at a time: ustar, pax (`x` and `g` headers),
 * GNU (long names `L` and long links `K`, base-256 numbers) and v7. The stream is raw tar; pass
 * it through `maybeGunzip` first to accept tar.gz too.
 *
 * Streaming: memory stays bounded whatever the archive holds (one chunk of the stream, one
 * header, and metadata within `TAR_LIMITS`); bodies are never buffered, so every entry's body is
 * read, or skipped, before the next header is. See `TarEntry` for the body's rules.
 *
 * The archive ends at two zero blocks, or at EOF after one zero block, or at EOF where an entry
 * would begin (GNU tar accepts these too); the rest of the stream is then read and discarded, so
 * that a gzip stream's own checks run. Rejects with `EINVAL` (syscall `tar`, `path` the entry
 * when known): a bad header checksum; a truncated archive (EOF inside a header or body); a zero
 * block followed by anything but another; a numeric field that is not a number or out of range;
 * a malformed or oversized pax header; a NUL in a pax path or linkpath; an oversized GNU long
 * name; a path or link target that is not UTF-8 or is past `TAR_LIMITS`; extension headers not
 * followed by an entry; more than `maxBytes` bytes or `maxEntries` entries. Errors of the stream
 * itself pass through.
 *
 * Iterable once. Leaving the loop early (`break`, a throw) closes the stream.
 */
export class TarReader implements AsyncIterable<TarEntry> {
  readonly #source: ByteSource;
  readonly #maxEntries: number;
  #iterated = false;

  constructor(stream: AsyncIterable<Uint8Array>, options: TarReaderOptions = {}) {
    const { maxBytes = Number.MAX_SAFE_INTEGER, maxEntries = Number.MAX_SAFE_INTEGER } = options;
    for (const [name, value] of [['maxBytes', maxBytes], ['maxEntries', maxEntries]] as const) {
      if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer`);
    }
    this.#source = new ByteSource(stream, maxBytes);
    this.#maxEntries = maxEntries;
  }

  [Symbol.asyncIterator](): AsyncIterator<TarEntry> {
    if (this.#iterated) throw new TypeError('a TarReader can be iterated only once');
    this.#iterated = true;
    return this.#entries();
  }

  async *#entries(): AsyncGenerator<TarEntry, void, undefined> {
    const source = this.#source;
    const global = new GlobalRecords();
    let body: EntryBody | undefined;
    let count = 0;
    let complete = false;
    try {
      for (;;) {
        const header = await readHeader(source, global);
        if (header === undefined) break;
        if (++count > this.#maxEntries) {
          throw tarError(`archive has more than maxEntries (${this.#maxEntries}) entries`, header.path);
        }
        body = new EntryBody(source, header.size, header.path);
        yield { header, body };
        await body.finish();
      }
      await source.drain();
      complete = true;
    } finally {
      body?.expire();
      if (!complete) await source.close();
    }
  }
}

/** The body of the current entry: a window of `size` bytes on the stream, then its padding. */
class EntryBody implements AsyncIterable<Uint8Array> {
  readonly #source: ByteSource;
  readonly #path: string;
  readonly #padding: number;
  #remaining: number;
  #stale = false;

  constructor(source: ByteSource, size: number, path: string) {
    this.#source = source;
    this.#path = path;
    this.#remaining = size;
    this.#padding = padding(size);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      if (this.#stale) throw new TypeError(`the body of '${this.#path}' was read after the next entry was requested`);
      if (this.#remaining === 0) return;
      const chunk = await this.#source.next(this.#remaining);
      if (chunk === undefined) throw truncated(this.#path);
      this.#remaining -= chunk.length;
      yield chunk;
    }
  }

  /** Skips what the consumer left unread, and the padding; the body is expired afterwards. */
  async finish(): Promise<void> {
    this.expire();
    const rest = this.#remaining + this.#padding;
    this.#remaining = 0;
    if ((await this.#source.skip(rest)) < rest) throw truncated(this.#path);
  }

  /** Makes later reads throw: the reader has moved on or closed. */
  expire(): void {
    this.#stale = true;
  }
}

/** The records of every `g` header so far, bounded by `TAR_LIMITS.maxPaxHeaderBytes` in all. */
class GlobalRecords {
  readonly records: PaxRecords = new Map();
  #bytes = 0;

  merge(records: PaxRecords, entry: string): void {
    for (const [key, value] of records) {
      const old = this.records.get(key);
      if (old !== undefined) this.#bytes -= key.length + old.length;
      if (value.length === 0) {
        this.records.delete(key);
      } else {
        this.records.set(key, value);
        this.#bytes += key.length + value.length;
      }
    }
    if (this.#bytes > TAR_LIMITS.maxPaxHeaderBytes) {
      throw tarError(`global pax records exceed ${TAR_LIMITS.maxPaxHeaderBytes} bytes`, entry);
    }
  }
}

/** Extension headers seen since the last entry, waiting for the entry they describe. */
interface Pending {
  local: PaxRecords;
  localBytes: number;
  longName?: Uint8Array;
  longLink?: Uint8Array;
}

/**
 * Reads blocks up to and including the next entry's header; `undefined` at the end of the
 * archive. Leaves the stream at the entry's body.
 */
async function readHeader(source: ByteSource, global: GlobalRecords): Promise<TarEntryHeader | undefined> {
  const pending: Pending = { local: new Map(), localBytes: 0 };
  let waiting = false; // extension headers read that describe an entry yet to come
  for (;;) {
    const block = await source.read(BLOCK_SIZE);
    if (block.length === 0 && !waiting) return undefined;
    if (block.length < BLOCK_SIZE) throw truncated();
    if (isEndBlock(block)) {
      if (waiting) throw tarError('extension header is not followed by an entry');
      const second = await source.read(BLOCK_SIZE);
      if (second.length === 0) return undefined;
      if (second.length < BLOCK_SIZE) throw truncated();
      if (!isEndBlock(second)) throw tarError('corrupt archive: a lone zero block inside it');
      return undefined;
    }
    if (!checksumMatches(block)) throw tarError('header checksum mismatch');
    const raw = parseHeader(block);
    switch (raw.typeflag) {
      case 'x': {
        pending.localBytes += raw.size;
        if (pending.localBytes > TAR_LIMITS.maxPaxHeaderBytes) {
          throw tarError(`pax headers exceed ${TAR_LIMITS.maxPaxHeaderBytes} bytes`, raw.label);
        }
        const records = parsePax(await readMeta(source, raw, TAR_LIMITS.maxPaxHeaderBytes, 'pax header'), raw.label);
        for (const [key, value] of records) pending.local.set(key, value);
        break;
      }
      case 'g': {
        const records = parsePax(await readMeta(source, raw, TAR_LIMITS.maxPaxHeaderBytes, 'pax header'), raw.label);
        global.merge(records, raw.label);
        break;
      }
      case 'L':
        pending.longName = untilNul(await readMeta(source, raw, TAR_LIMITS.maxLongNameBytes, 'GNU long name'));
        break;
      case 'K':
        pending.longLink = untilNul(await readMeta(source, raw, TAR_LIMITS.maxLongNameBytes, 'GNU long link'));
        break;
      default: {
        const header = resolveHeader(raw, pending, global.records);
        if (raw.typeflag === 'S') await skipSparseExtensions(source, block, header.path);
        return header;
      }
    }
    waiting ||= raw.typeflag !== 'g';
  }
}

/** The body of an extension header, at most `limit` bytes, its padding skipped. */
async function readMeta(source: ByteSource, raw: RawHeader, limit: number, what: string): Promise<Uint8Array> {
  if (raw.size > limit) throw tarError(`${what} is larger than ${limit} bytes`, raw.label);
  const data = await source.read(raw.size);
  if (data.length < raw.size) throw truncated(raw.label);
  const pad = padding(raw.size);
  if ((await source.skip(pad)) < pad) throw truncated(raw.label);
  return data;
}

/** Applies pending extensions and global records to a header block. */
function resolveHeader(raw: RawHeader, pending: Pending, global: PaxRecords): TarEntryHeader {
  const pax: PaxRecords = new Map();
  for (const records of [global, pending.local]) {
    for (const [key, value] of records) pax.set(key, value);
  }
  const xattrs = new Map<string, Uint8Array>();
  for (const [key, value] of pax) {
    if (key.startsWith(XATTR_PREFIX) && key.length > XATTR_PREFIX.length) {
      xattrs.set(key.slice(XATTR_PREFIX.length), value);
    }
  }
  for (const [key, value] of pax) if (value.length === 0) pax.delete(key); // empty: back to the ustar field

  const storedName = raw.prefix.length > 0 ? join(raw.prefix, raw.name) : raw.name;
  const sparseName = pax.get(`${SPARSE_PREFIX}name`);
  const pathBytes = sparseName ?? pax.get('path') ?? pending.longName ?? storedName;
  const path = decodePath(pathBytes, 'path', raw.label);

  let type = TYPES[raw.typeflag] ?? 'unsupported';
  if (raw.typeflag === '\0' && pathBytes[pathBytes.length - 1] === SLASH) type = 'directory';
  if (raw.typeflag === 'S' || [...pax.keys()].some((key) => key.startsWith(SPARSE_PREFIX))) type = 'unsupported';

  const linkBytes = pax.get('linkpath') ?? pending.longLink ?? raw.linkname;
  const isLink = type === 'symlink' || type === 'hardlink';
  const isDevice = type === 'char' || type === 'block';
  const number = (key: string, fallback: number): number => {
    const value = pax.get(key);
    return value === undefined ? fallback : parsePaxInteger(value, key, path);
  };
  const text = (key: string, fallback: Uint8Array): string => lossyUtf8.decode(pax.get(key) ?? fallback);
  const mtime = pax.get('mtime');
  return {
    path,
    type,
    typeflag: raw.typeflag,
    mode: raw.mode & 0o7777,
    uid: number('uid', raw.uid),
    gid: number('gid', raw.gid),
    uname: text('uname', raw.uname),
    gname: text('gname', raw.gname),
    size: HEADER_ONLY.has(type) ? 0 : number('size', raw.size),
    mtimeMs: mtime === undefined ? raw.mtime * 1000 : parsePaxTime(mtime, 'mtime', path),
    linkTarget: isLink ? decodePath(linkBytes, 'link target', path) : '',
    devMajor: isDevice ? parseNumeric(raw.block, FIELDS.devMajor, 'devmajor', path, false) : 0,
    devMinor: isDevice ? parseNumeric(raw.block, FIELDS.devMinor, 'devminor', path, false) : 0,
    xattrs,
  };
}

/** Old GNU sparse headers may be followed by blocks continuing their sparse map: skip them. */
async function skipSparseExtensions(source: ByteSource, header: Uint8Array, path: string): Promise<void> {
  let extended = header[FIELDS.gnuIsExtended[0]] !== 0;
  while (extended) {
    const block = await source.read(BLOCK_SIZE);
    if (block.length < BLOCK_SIZE) throw truncated(path);
    extended = block[GNU_EXTENSION_IS_EXTENDED] !== 0;
  }
}

function join(prefix: Uint8Array, name: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + 1 + name.length);
  out.set(prefix);
  out[prefix.length] = SLASH;
  out.set(name, prefix.length + 1);
  return out;
}

function untilNul(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

function padding(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

function truncated(path?: string): Error {
  return tarError('truncated archive', path);
}
