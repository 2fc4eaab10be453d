import { tarError } from './tarError.js';

/**
 * Pax extended header records (POSIX.1-2001 `pax`). The body of an `x` (this entry) or `g` (every
 * later entry) header is a sequence of records
 *
 *     record = length SP key "=" value LF   ; length: decimal, counts the whole record itself
 *
 * Keys are UTF-8; values are bytes (UTF-8 text but for `SCHILY.xattr.*`, whose values are the
 * raw attribute bytes). A record with an empty value deletes the key.
 */
export type PaxRecords = Map<string, Uint8Array>;

const SPACE = 0x20;
const EQUALS = 0x3d;
const NEWLINE = 0x0a;
/** A length field longer than this could not fit a header under `TAR_LIMITS.maxPaxHeaderBytes`. */
const MAX_LENGTH_DIGITS = 8;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Parses the body of a pax header, later records overriding earlier ones with the same key.
 * Values are copies: they do not keep `data` alive. Rejects a malformed record (a length that is
 * not a number or does not end on the record's newline, a record without `=` or with an empty or
 * non-UTF-8 key) with `EINVAL`; `entry` names the header in the error.
 */
export function parsePax(data: Uint8Array, entry: string): PaxRecords {
  const records: PaxRecords = new Map();
  let pos = 0;
  while (pos < data.length) {
    let cursor = pos;
    let length = 0;
    while (cursor < data.length && data[cursor]! >= 0x30 && data[cursor]! <= 0x39 && cursor - pos < MAX_LENGTH_DIGITS) {
      length = length * 10 + data[cursor]! - 0x30;
      cursor++;
    }
    if (cursor === pos || data[cursor] !== SPACE) throw tarError('pax record length is not a number', entry);
    const end = pos + length;
    if (end <= cursor + 1 || end > data.length || data[end - 1] !== NEWLINE) {
      throw tarError('pax record length does not match the record', entry);
    }
    const record = data.subarray(cursor + 1, end - 1);
    const equals = record.indexOf(EQUALS);
    if (equals <= 0) throw tarError('pax record has no key', entry);
    let key: string;
    try {
      key = strictUtf8.decode(record.subarray(0, equals));
    } catch (cause) {
      throw tarError('pax record key is not valid UTF-8', entry, cause);
    }
    if (key.includes('\0')) throw tarError('pax record key contains a NUL byte', entry);
    records.set(key, new Uint8Array(record.subarray(equals + 1))); // a copy, even of a Buffer
    pos = end;
  }
  return records;
}

/** Encodes records in the order given; a key must be non-empty and hold neither `=` nor NUL. */
export function encodePax(records: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const [key, value] of records) {
    const keyBytes = encoder.encode(key);
    const bare = 1 + keyBytes.length + 1 + value.length + 1; // SP key = value LF
    let length = bare + String(bare).length;
    if (String(length).length !== String(bare).length) length = bare + String(length).length;
    const record = new Uint8Array(length);
    let at = record.length - bare;
    record.set(encoder.encode(String(length)));
    record[at++] = SPACE;
    record.set(keyBytes, at);
    at += keyBytes.length;
    record[at++] = EQUALS;
    record.set(value, at);
    record[record.length - 1] = NEWLINE;
    parts.push(record);
    total += length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A pax decimal (`size`, `uid`, `gid`): digits only, at most 2^53 - 1. */
export function parsePaxInteger(value: Uint8Array, key: string, entry: string): number {
  const text = ascii(value);
  if (!/^[0-9]{1,16}$/.test(text) || Number(text) > Number.MAX_SAFE_INTEGER) {
    throw tarError(`pax ${key} is not a non-negative integer`, entry);
  }
  return Number(text);
}

/** A pax time (`mtime`): optionally negative seconds with an optional fraction, as milliseconds. */
export function parsePaxTime(value: Uint8Array, key: string, entry: string): number {
  const match = /^(-?)([0-9]{1,16})(?:\.([0-9]*))?$/.exec(ascii(value));
  if (match === null) throw tarError(`pax ${key} is not a time`, entry);
  const [, sign, seconds, fraction = ''] = match;
  // To the millisecond, in integers: finer digits (GNU tar writes nanoseconds) are dropped.
  const ms = Number(seconds) * 1000 + Number(fraction.slice(0, 3).padEnd(3, '0'));
  return sign === '-' ? 0 - ms : ms;
}

/** The value as text when it is short enough to be a number; otherwise '' (which is none). */
function ascii(bytes: Uint8Array): string {
  return bytes.length > 64 ? '' : String.fromCharCode(...bytes);
}
