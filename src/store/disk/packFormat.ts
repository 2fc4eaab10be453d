import { crc32 } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { BlockId } from '../../core/BlockId.js';
import { parseBlockId } from '../../core/BlockId.js';

/**
 * The pack file format (design.md, "On-disk format", has the table).
 *
 *   pack   := header record*
 *   header := "CWPK" u32:version u32:packNumber u32:0                      (16 bytes)
 *   record := "CWRC" u8:kind u8[3]:0 u32:length id[32] u32:crc payload     (48 + length bytes)
 *
 * All integers little-endian. `kind` is 1 for a data block, 2 for a tree node. `id` is
 * `recordId(kind, payload)`. `crc` is the CRC-32 of the record's first 44 bytes followed by the
 * payload: a torn or garbled record is detected without hashing it. Records are only ever
 * appended; a pack is immutable once the store moves on to the next one.
 */
export const PACK_MAGIC = 0x4b505743; // "CWPK" read as little-endian u32
export const RECORD_MAGIC = 0x43525743; // "CWRC"
export const PACK_VERSION = 1;
export const PACK_HEADER_SIZE = 16;
export const RECORD_HEADER_SIZE = 48;
/** A record's payload is at most this: a 1 MiB block, or a tree node (far smaller). */
export const MAX_PAYLOAD = (1 << 20) + (1 << 16);

export type RecordKind = 'block' | 'node';

const KIND_CODES: Record<RecordKind, number> = { block: 1, node: 2 };

/**
 * The id a record is stored under. A data block's is the SHA-256 of its bytes (API.md). A tree
 * node's is the SHA-256 of its encoding with the first byte's bits inverted: node encodings are
 * predictable from public file content, so with plain SHA-256 a user could write a block whose
 * bytes *are* a node's encoding and make the two share one id (and gc or reads confuse them).
 * Any hash-of-something construction has that hole, because a block may hold any bytes; reaching
 * an inverted digest instead needs a SHA-256 preimage.
 */
export function recordId(kind: RecordKind, payload: Uint8Array): BlockId {
  const digest = createHash('sha256').update(payload).digest();
  if (kind === 'node') digest[0] = ~digest[0]! & 0xff;
  return parseBlockId(digest.toString('hex'))!;
}

export function packHeader(pack: number): Buffer {
  const header = Buffer.alloc(PACK_HEADER_SIZE);
  header.writeUInt32LE(PACK_MAGIC, 0);
  header.writeUInt32LE(PACK_VERSION, 4);
  header.writeUInt32LE(pack, 8);
  return header;
}

/** The pack number a header names, or an error description. */
export function parsePackHeader(header: Uint8Array): { pack: number; version: number } | string {
  if (header.byteLength < PACK_HEADER_SIZE) return 'pack header is truncated';
  const view = Buffer.from(header.buffer, header.byteOffset, header.byteLength);
  if (view.readUInt32LE(0) !== PACK_MAGIC) return 'not a cowstack pack (bad magic)';
  return { version: view.readUInt32LE(4), pack: view.readUInt32LE(8) };
}

/**
 * Writes the `RECORD_HEADER_SIZE`-byte header of the record for `payload` (its CRC covers the
 * payload too) into `out` at `at`; the payload follows it in the pack.
 */
export function writeRecordHeader(out: Buffer, at: number, kind: RecordKind, id: BlockId, payload: Uint8Array): void {
  out.writeUInt32LE(RECORD_MAGIC, at);
  out.writeUInt8(KIND_CODES[kind], at + 4);
  out.fill(0, at + 5, at + 8);
  out.writeUInt32LE(payload.byteLength, at + 8);
  out.write(id, at + 12, 32, 'hex');
  const crc = crc32(payload, crc32(out.subarray(at, at + 44)));
  out.writeUInt32LE(crc, at + 44);
}

export interface RecordHeader {
  readonly kind: RecordKind;
  readonly length: number;
  readonly id: BlockId;
  readonly crc: number;
}

/** Parses a record header, or describes why it is not one. */
export function parseRecordHeader(bytes: Uint8Array): RecordHeader | string {
  if (bytes.byteLength < RECORD_HEADER_SIZE) return 'record header is truncated';
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, RECORD_HEADER_SIZE);
  if (view.readUInt32LE(0) !== RECORD_MAGIC) return 'bad record magic';
  const code = view.readUInt8(4);
  const kind: RecordKind | undefined = code === 1 ? 'block' : code === 2 ? 'node' : undefined;
  if (kind === undefined) return `unknown record kind ${code}`;
  const length = view.readUInt32LE(8);
  if (length > MAX_PAYLOAD) return `record length ${length} is too large`;
  const id = parseBlockId(view.toString('hex', 12, 44));
  if (id === undefined) return 'bad record id';
  return { kind, length, id, crc: view.readUInt32LE(44) };
}

/** True when the CRC stored in `header` covers `headerBytes` and `payload`. */
export function recordCrcMatches(headerBytes: Uint8Array, header: RecordHeader, payload: Uint8Array): boolean {
  return crc32(payload, crc32(headerBytes.subarray(0, 44))) === header.crc;
}

/** The file name of pack `n`: eight hex digits, so names sort in creation order. */
export function packFileName(pack: number): string {
  return `${pack.toString(16).padStart(8, '0')}.pack`;
}

export function packNumberOf(name: string): number | undefined {
  const match = /^([0-9a-f]{8})\.pack$/.exec(name);
  return match === null ? undefined : Number.parseInt(match[1]!, 16);
}
