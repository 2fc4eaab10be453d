/**
 * A content id: the SHA-256 of a block's (or a node's) bytes, as 64 lowercase hex digits.
 *
 * Invariant: a value of this type is only made by `blockIdFromDigest` or `parseBlockId`, so every
 * `BlockId` in the program is well formed. A string keeps ids cheap as `Map` keys (V8 interns
 * nothing here; each id costs about 80 bytes as a heap string).
 */
export type BlockId = string & { readonly __brand: 'BlockId' };

/** Two hex digits for each byte value: one table look-up per byte instead of two. */
const HEX_PAIRS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
const ID_PATTERN = /^[0-9a-f]{64}$/;

/** Makes an id from a 32-byte SHA-256 digest. */
export function blockIdFromDigest(digest: Uint8Array): BlockId {
  if (digest.length !== 32) throw new TypeError(`a SHA-256 digest has 32 bytes, not ${digest.length}`);
  let out = '';
  for (let i = 0; i < 32; i++) out += HEX_PAIRS[digest[i]!]!;
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
