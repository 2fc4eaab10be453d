import { TAR_LIMITS, checkPath } from './limits.js';
import { encodePax } from './pax.js';
import type { TarWriterHeader, TarWriterType } from './TarEntry.js';
import { tarError } from './tarError.js';
import { BLOCK_SIZE, FIELDS, encodeUstar, octalMax } from './ustar.js';

/** A `TarWriterHeader` with its defaults filled in and its values checked for type and range. */
export type CompleteHeader = Required<TarWriterHeader>;

const TYPEFLAGS: Readonly<Record<TarWriterType, string>> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6',
};
const EMPTY: Uint8Array = new Uint8Array(0);
const SLASH = 0x2f;
/** Names a pax header, before the entry's base name; fixed, for reproducible output (GNU tar puts its pid here). */
const PAX_HEADER_DIR = 'PaxHeaders.0/';
const encoder = new TextEncoder();
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * The header blocks of one entry, as GNU tar `--format=pax` and Go's archive/tar write them: a
 * ustar block, preceded by a pax `x` header carrying whatever does not fit ustar — a path longer
 * than the name and prefix fields can split, a link target over 100 bytes, a size of 8 GiB or
 * more, an id over 0o7777777, an owner name over 31 bytes, a time before 1970 or after 2242,
 * non-ASCII text, and xattrs (`SCHILY.xattr.NAME`). Records come sorted by key and nothing varies
 * but the input, so equal headers give equal bytes. The ustar fields then hold a best-effort
 * (ASCII, truncated) stand-in for readers that ignore pax.
 *
 * Rejects with `EINVAL` what no reader would accept back: a NUL or a lone surrogate in a path or
 * link target; a NUL in an owner name; a path or target past `TAR_LIMITS`; an xattr name that is
 * empty or holds `=` or NUL; pax records over `TAR_LIMITS.maxPaxHeaderBytes`; device numbers over
 * 0o7777777.
 */
export function encodeHeader(header: CompleteHeader): Uint8Array {
  const { path } = header;
  const records: Array<[string, Uint8Array]> = [];

  const pathBytes = utf8(path, 'path', path);
  checkPath(pathBytes, 'path', path);
  const split = isAscii(path) ? splitUstarPath(pathBytes) : undefined;
  if (split === undefined) records.push(['path', pathBytes]);
  const [prefix, name] = split ?? [EMPTY, standIn(path, FIELDS.name[1])];

  let linkname = EMPTY;
  if (header.linkTarget !== '') {
    const linkBytes = utf8(header.linkTarget, 'link target', path);
    checkPath(linkBytes, 'link target', path);
    const fits = isAscii(header.linkTarget) && linkBytes.length <= FIELDS.linkname[1];
    if (!fits) records.push(['linkpath', linkBytes]);
    linkname = fits ? linkBytes : standIn(header.linkTarget, FIELDS.linkname[1]);
  }

  const numeric = (key: string, value: number, field: readonly [number, number]): number => {
    if (value >= 0 && value <= octalMax(field)) return value;
    records.push([key, encoder.encode(String(value))]);
    return 0;
  };
  const size = numeric('size', header.size, FIELDS.size);
  const uid = numeric('uid', header.uid, FIELDS.uid);
  const gid = numeric('gid', header.gid, FIELDS.gid);
  // Times are kept to the millisecond (the engine's precision). Whole seconds go in the ustar
  // field; a fraction, as GNU tar writes it, in a pax `mtime` record (`seconds.millis`).
  const mtimeMs = Math.round(header.mtimeMs);
  const wholeSeconds = mtimeMs % 1000 === 0;
  if (!wholeSeconds) records.push(['mtime', encoder.encode(paxTime(mtimeMs))]);
  const mtime = wholeSeconds ? numeric('mtime', mtimeMs / 1000, FIELDS.mtime) : Math.max(0, Math.min(octalMax(FIELDS.mtime), Math.floor(mtimeMs / 1000)));

  const owner = (key: string, value: string): Uint8Array => {
    if (value.includes('\0')) throw tarError(`${key} contains a NUL byte`, path);
    const bytes = encoder.encode(value);
    if (isAscii(value) && bytes.length < FIELDS.uname[1]) return bytes;
    records.push([key, bytes]);
    return standIn(value, FIELDS.uname[1] - 1);
  };
  const uname = owner('uname', header.uname);
  const gname = owner('gname', header.gname);

  const device = header.type === 'char' || header.type === 'block';
  for (const value of [header.devMajor, header.devMinor]) {
    if (device && value > octalMax(FIELDS.devMajor)) throw tarError('device number does not fit ustar', path);
  }

  for (const [key, value] of header.xattrs) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw tarError(`xattr name '${key}' cannot be stored`, path);
    }
    records.push([`SCHILY.xattr.${key}`, value]);
  }

  const block = encodeUstar({
    name, prefix, linkname, uname, gname, size, uid, gid, mtime,
    mode: header.mode & 0o7777,
    typeflag: TYPEFLAGS[header.type],
    devMajor: device ? header.devMajor : 0,
    devMinor: device ? header.devMinor : 0,
  });
  if (records.length === 0) return block;

  records.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const data = encodePax(records);
  if (data.length > TAR_LIMITS.maxPaxHeaderBytes) {
    throw tarError(`pax header would exceed ${TAR_LIMITS.maxPaxHeaderBytes} bytes`, path);
  }
  const paxBlock = encodeUstar({
    name: standIn(PAX_HEADER_DIR + baseName(path), FIELDS.name[1]),
    prefix: EMPTY, linkname: EMPTY, uname: EMPTY, gname: EMPTY,
    mode: 0o644, uid: 0, gid: 0, size: data.length, mtime, typeflag: 'x', devMajor: 0, devMinor: 0,
  });
  const out = new Uint8Array(BLOCK_SIZE + roundUp(data.length) + BLOCK_SIZE);
  out.set(paxBlock);
  out.set(data, BLOCK_SIZE);
  out.set(block, out.length - BLOCK_SIZE);
  return out;
}

/** The number of bytes `size` takes in the archive, padding included. */
export function roundUp(size: number): number {
  return Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
}

/**
 * Splits an ASCII path into ustar `prefix` and `name` at a `/`, as Go's archive/tar does;
 * `undefined` when it cannot (a path over 256 bytes, or no `/` that leaves a name of 1 to 100
 * bytes and a prefix of at most 155).
 */
function splitUstarPath(bytes: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  const [, nameSize] = FIELDS.name;
  const [, prefixSize] = FIELDS.prefix;
  if (bytes.length <= nameSize) return [EMPTY, bytes];
  let limit = bytes.length;
  if (limit > prefixSize + 1) limit = prefixSize + 1;
  else if (bytes[limit - 1] === SLASH) limit--;
  const slash = bytes.subarray(0, limit).lastIndexOf(SLASH);
  const nameLength = bytes.length - slash - 1;
  if (slash <= 0 || nameLength === 0 || nameLength > nameSize) return undefined;
  return [bytes.subarray(0, slash), bytes.subarray(slash + 1)];
}

/** The UTF-8 bytes of a path; a lone surrogate has none (the encoder would write U+FFFD instead). */
function utf8(text: string, field: string, path: string): Uint8Array {
  if (LONE_SURROGATE.test(text)) throw tarError(`${field} is not valid Unicode`, path);
  return encoder.encode(text);
}

/** The text with its non-ASCII characters dropped, cut to `length` bytes: what pax-blind readers see. */
function standIn(text: string, length: number): Uint8Array {
  return encoder.encode(text.replace(/[^\x01-\x7f]/g, '').slice(0, length));
}

function baseName(path: string): string {
  return path.replace(/\/+$/, '').split('/').pop() ?? '';
}

function isAscii(text: string): boolean {
  return /^[\x00-\x7f]*$/.test(text);
}

/** Whole milliseconds as a pax decimal of seconds: `1700000000.123`, `-1.5`. */
function paxTime(ms: number): string {
  const magnitude = Math.abs(ms);
  const fraction = String(magnitude % 1000).padStart(3, '0').replace(/0+$/, '');
  return `${ms < 0 ? '-' : ''}${Math.floor(magnitude / 1000)}.${fraction}`;
}
