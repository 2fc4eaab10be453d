/**
 * A content id: the SHA-256 of a block's (or a node's) bytes, as 64 lowercase hex digits.
 *
 * Invariant: a value of this type is only made by `blockIdFromDigest` or `parseBlockId`, so every
 * `BlockId` in the program is well formed. A string keeps ids cheap as `Map` keys; each flat id
 * costs about 90 bytes of heap.
 */
export type BlockId = string & { readonly __brand: 'BlockId' };

const ID_PATTERN = /^[0-9a-f]{64}$/;
const HEX_DIGITS = new TextEncoder().encode('0123456789abcdef');
const ID_SCRATCH = new Uint8Array(64);
const LATIN1 = new TextDecoder('latin1');

/**
 * Makes an id from a 32-byte SHA-256 digest. Decodes the hex digits in one call so the id is one
 * flat string (~90 bytes kept): built with `+=` it would be a rope of 32 pieces (~870 bytes) and
 * the collector's main cost when hashing small blocks.
 */
export function blockIdFromDigest(digest: Uint8Array): BlockId {
  if (digest.length !== 32) throw new TypeError(`a SHA-256 digest has 32 bytes, not ${digest.length}`);
  for (let i = 0; i < 32; i++) {
    ID_SCRATCH[2 * i] = HEX_DIGITS[digest[i]! >> 4]!;
    ID_SCRATCH[2 * i + 1] = HEX_DIGITS[digest[i]! & 15]!;
  }
  return LATIN1.decode(ID_SCRATCH) as BlockId;
}

/** Validates a hex string as an id; returns undefined when it is not one. */
export function parseBlockId(text: string): BlockId | undefined {
  return ID_PATTERN.test(text) ? (text as BlockId) : undefined;
}

/** The id shortened for humans and log lines, as restic's `Str()`. */
export function shortBlockId(id: BlockId): string {
  return id.slice(0, 12);
}
