/**
 * A content id: the SHA-256 of a block's (or a node's) bytes, as 64 lowercase hex digits.
 *
 * Invariant: a value of this type is only made by `blockIdFromDigest` or `parseBlockId`, so every
 * `BlockId` in the program is well formed. A string keeps ids cheap as `Map` keys (V8 interns
 * nothing here; each id costs about 80 bytes as a heap string).
 */
export type BlockId = string & { readonly __brand: 'BlockId' };

const HEX = '0123456789abcdef';
const ID_PATTERN = /^[0-9a-f]{64}$/;

/** Makes an id from a 32-byte SHA-256 digest. */
export function blockIdFromDigest(digest: Uint8Array): BlockId {
  if (digest.length !== 32) throw new TypeError(`a SHA-256 digest has 32 bytes, not ${digest.length}`);
  let out = '';
  for (const byte of digest) out += HEX[byte >> 4]! + HEX[byte & 15]!;
  return out as BlockId;
}

/** Validates a hex string as an id; returns undefined when it is not one. */
export function parseBlockId(text: string): BlockId | undefined {
  return ID_PATTERN.test(text) ? (text as BlockId) : undefined;
}

/** The id shortened for humans and log lines, as restic's `Str()`. */
export function shortBlockId(id: BlockId): string {
  return id.slice(0, 12);
}

/** True when every byte is zero: such a block is a hole and is never stored. */
export function isZeroBlock(bytes: Uint8Array): boolean {
  const words = Math.floor(bytes.byteLength / 8);
  if (bytes.byteOffset % 8 === 0 && words > 0) {
    const view = new BigUint64Array(bytes.buffer, bytes.byteOffset, words);
    for (let i = 0; i < words; i++) if (view[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words * 8; i++) if (bytes[i] !== 0) return false;
  }
  for (let i = words * 8; i < bytes.byteLength; i++) if (bytes[i] !== 0) return false;
  return true;
}
