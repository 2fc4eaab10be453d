import { crc32 } from 'node:zlib';

/**
 * The trailer the store's own small files end with (the catalog, the index, the sources): a
 * little-endian u32 CRC-32 of every byte before it. It tells a torn or rotted file from a whole
 * one; it proves nothing against tampering.
 */
export function withChecksum(body: Uint8Array): Buffer {
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(body), 0);
  return Buffer.concat([body, trailer]);
}

/** True when `bytes` ends with the CRC-32 of what comes before (`withChecksum`'s trailer). */
export function checksumMatches(bytes: Buffer): boolean {
  return bytes.byteLength >= 4 && crc32(bytes.subarray(0, bytes.byteLength - 4)) === bytes.readUInt32LE(bytes.byteLength - 4);
}
