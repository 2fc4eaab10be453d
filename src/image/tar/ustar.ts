import { tarError } from './tarError.js';

/**
 * The tar header block, as POSIX ustar lays it out (and GNU tar and v7 tar read it). An archive is
 *
 *     archive = *entry end
 *     entry   = *meta header body       ; meta: a pax `x`/`g` header or a GNU `L`/`K` record,
 *                                       ;       each a header block followed by its own body
 *     header  = one 512-byte block, laid out as FIELDS below
 *     body    = `size` bytes, zero-padded to a multiple of 512
 *     end     = two zero blocks         ; EOF after one, or at an entry boundary, is accepted
 *
 * Numeric fields hold octal ASCII digits, NUL- or space-terminated; GNU's base-256 form (first
 * byte 0x80 for a positive, 0xff for a negative two's-complement number, the rest big-endian) is
 * read too, for sizes and ids too large for octal. The checksum is the sum of the block's bytes
 * with the checksum field counted as eight spaces; GNU accepts the sum of the bytes as signed or
 * as unsigned chars, and so do we.
 *
 * Magic `ustar\0` + `00` is POSIX ustar (with `prefix`); `ustar  \0` is GNU (whose bytes 345..
 * hold atime, ctime and sparse maps instead of `prefix`); anything else is v7, which has only
 * the fields up to `linkname`.
 */
export const BLOCK_SIZE = 512;

/** Offset and length of each header field. */
export const FIELDS = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 8],
  uname: [265, 32],
  gname: [297, 32],
  devMajor: [329, 8],
  devMinor: [337, 8],
  prefix: [345, 155],
  /** GNU sparse headers only: non-zero when extension blocks of sparse map follow the header. */
  gnuIsExtended: [482, 1],
} as const satisfies Record<string, readonly [number, number]>;

/** In a GNU sparse extension block: non-zero when yet another extension block follows. */
export const GNU_EXTENSION_IS_EXTENDED = 504;

/**
 * The fields of a header block: numbers as numbers, strings as their bytes up to the first NUL.
 * Written as given by `encodeUstar` (each value must fit its field; the caller checks).
 */
export interface UstarFields {
  readonly name: Uint8Array;
  /** Empty but in the ustar format. */
  readonly prefix: Uint8Array;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch; may be negative (base-256). */
  readonly mtime: number;
  /** One character; `'\0'` for v7 regular files. */
  readonly typeflag: string;
  readonly linkname: Uint8Array;
  readonly uname: Uint8Array;
  readonly gname: Uint8Array;
  readonly devMajor: number;
  readonly devMinor: number;
}

/** A header block as read: its fields but for the device numbers, which only devices have. */
export interface RawHeader extends Omit<UstarFields, 'devMajor' | 'devMinor'> {
  /** The block itself, for fields only some types have (device numbers, GNU sparse flags). */
  readonly block: Uint8Array;
  /** The name field as text, bytes that are not UTF-8 replaced: names the entry in errors. */
  readonly label: string;
}

const MAGIC_USTAR = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00]; // "ustar\0"
const MAGIC_GNU = [0x75, 0x73, 0x74, 0x61, 0x72, 0x20, 0x20, 0x00]; // "ustar  \0"
const SPACE = 0x20;
const lossyUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The bytes of a field up to its first NUL (all of it when it has none). */
function stringField(block: Uint8Array, [offset, length]: readonly [number, number]): Uint8Array {
  const field = block.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

/** True for a block of zeros, which ends an archive. (`store/isZeroBlock` is out of image/tar's reach.) */
export function isEndBlock(block: Uint8Array): boolean {
  return block.every((byte) => byte === 0);
}

/** True when the block's checksum field matches its signed or unsigned byte sum. */
export function checksumMatches(block: Uint8Array): boolean {
  const [offset, length] = FIELDS.checksum;
  const text = trimmedField(block, FIELDS.checksum);
  if (!/^[0-7]{1,8}$/.test(text)) return false;
  const stored = parseInt(text, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const byte = i >= offset && i < offset + length ? SPACE : block[i]!;
    unsigned += byte;
    signed += byte < 128 ? byte : byte - 256;
  }
  return stored === unsigned || stored === signed;
}

/**
 * Decodes a header block whose checksum has been verified. Rejects with `EINVAL` a numeric field
 * that is not a number, or is out of range (negative where it cannot be, or past 2^53 - 1).
 */
export function parseHeader(block: Uint8Array): RawHeader {
  const name = stringField(block, FIELDS.name);
  const entry = lossyUtf8.decode(name);
  const format = startsWith(block, FIELDS.magic[0], MAGIC_GNU)
    ? 'gnu'
    : startsWith(block, FIELDS.magic[0], MAGIC_USTAR) ? 'ustar' : 'v7';
  const v7 = format === 'v7';
  const empty = new Uint8Array(0);
  return {
    name,
    mode: parseNumeric(block, FIELDS.mode, 'mode', entry, false),
    uid: parseNumeric(block, FIELDS.uid, 'uid', entry, false),
    gid: parseNumeric(block, FIELDS.gid, 'gid', entry, false),
    size: parseNumeric(block, FIELDS.size, 'size', entry, false),
    mtime: parseNumeric(block, FIELDS.mtime, 'mtime', entry, true),
    typeflag: String.fromCharCode(block[FIELDS.typeflag[0]]!),
    linkname: stringField(block, FIELDS.linkname),
    uname: v7 ? empty : stringField(block, FIELDS.uname),
    gname: v7 ? empty : stringField(block, FIELDS.gname),
    prefix: format === 'ustar' ? stringField(block, FIELDS.prefix) : empty,
    block,
    label: entry,
  };
}

/**
 * A numeric field: octal digits between optional spaces and NULs (an empty field is 0), or GNU
 * base-256. `signed` allows a negative base-256 value.
 */
export function parseNumeric(
  block: Uint8Array,
  field: readonly [number, number],
  what: string,
  entry: string,
  signed: boolean,
): number {
  const [offset, length] = field;
  const first = block[offset]!;
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0;
    const invert = negative ? 0xff : 0;
    let value = 0n;
    for (let i = 0; i < length; i++) {
      let byte = block[offset + i]! ^ invert;
      if (i === 0) byte &= 0x7f;
      value = (value << 8n) | BigInt(byte);
    }
    if (negative) value = -value - 1n;
    if ((negative && !signed) || value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw tarError(`${what} field is out of range`, entry);
    }
    return Number(value);
  }
  const text = trimmedField(block, field);
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw tarError(`${what} field is not a number`, entry);
  return parseInt(text, 8);
}

/** The largest value an octal field of `length` bytes holds (one byte goes to the NUL). */
export function octalMax(field: readonly [number, number]): number {
  return 8 ** (field[1] - 1) - 1;
}

/** Writes a POSIX ustar header block (magic `ustar\0`, version `00`) with its checksum. */
export function encodeUstar(fields: UstarFields): Uint8Array {
  const block = new Uint8Array(BLOCK_SIZE);
  block.set(fields.name, FIELDS.name[0]);
  writeOctal(block, FIELDS.mode, fields.mode);
  writeOctal(block, FIELDS.uid, fields.uid);
  writeOctal(block, FIELDS.gid, fields.gid);
  writeOctal(block, FIELDS.size, fields.size);
  writeOctal(block, FIELDS.mtime, fields.mtime);
  block[FIELDS.typeflag[0]] = fields.typeflag.charCodeAt(0);
  block.set(fields.linkname, FIELDS.linkname[0]);
  block.set(MAGIC_USTAR, FIELDS.magic[0]);
  block.set([0x30, 0x30], FIELDS.magic[0] + MAGIC_USTAR.length); // version "00"
  block.set(fields.uname, FIELDS.uname[0]);
  block.set(fields.gname, FIELDS.gname[0]);
  writeOctal(block, FIELDS.devMajor, fields.devMajor);
  writeOctal(block, FIELDS.devMinor, fields.devMinor);
  block.set(fields.prefix, FIELDS.prefix[0]);
  block.fill(SPACE, FIELDS.checksum[0], FIELDS.checksum[0] + FIELDS.checksum[1]);
  let sum = 0;
  for (const byte of block) sum += byte;
  // As GNU tar writes it: six octal digits, a NUL, a space.
  writeOctal(block, [FIELDS.checksum[0], 7], sum);
  return block;
}

function writeOctal(block: Uint8Array, [offset, length]: readonly [number, number], value: number): void {
  const digits = value.toString(8).padStart(length - 1, '0');
  if (digits.length !== length - 1) throw new RangeError(`${value} does not fit an octal field of ${length} bytes`);
  for (let i = 0; i < digits.length; i++) block[offset + i] = digits.charCodeAt(i);
  block[offset + length - 1] = 0;
}

function trimmedField(block: Uint8Array, [offset, length]: readonly [number, number]): string {
  let start = offset;
  let end = offset + length;
  while (start < end && (block[start] === 0 || block[start] === SPACE)) start++;
  while (end > start && (block[end - 1] === 0 || block[end - 1] === SPACE)) end--;
  return String.fromCharCode(...block.subarray(start, end));
}

function startsWith(block: Uint8Array, offset: number, bytes: readonly number[]): boolean {
  return bytes.every((byte, i) => block[offset + i] === byte);
}
