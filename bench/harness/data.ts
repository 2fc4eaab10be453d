/**
 * Deterministic data for the scenarios, from fixed seeds: the same bytes and the same offsets in
 * every run. Content comes from one xorshift32 stream (period 2^32 − 1 words, 16 GiB), so no two
 * blocks of a generated buffer up to that size are equal — nothing dedups by accident — at a few
 * ns per word, far faster than `crypto.randomBytes` for a gigabyte.
 */

/** Fills `words` from the stream in state `state`; returns the next state. */
function fillWords(words: Int32Array, state: number): number {
  let x = state | 0;
  const n = words.length;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return x;
}

/** Words filled per call: short calls, so the loop is optimized once and never runs long unoptimized. */
const CHUNK_WORDS = 1 << 16;
let warmed = false;

/** Makes sure `fillWords` is optimized before a large buffer goes through it. */
function warm(): void {
  if (warmed) return;
  const scratch = new Int32Array(CHUNK_WORDS);
  for (let i = 0; i < 200; i++) fillWords(scratch, i + 1);
  warmed = true;
}

/** A seed mixed into a non-zero xorshift state. */
function stateOf(seed: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h === 0 ? 1 : h;
}

/** Fills `bytes` (length a multiple of 4, 4-aligned) with the stream of `seed`. */
export function fillDistinct<T extends Uint8Array>(bytes: T, seed: number): T {
  if (bytes.byteLength % 4 !== 0 || bytes.byteOffset % 4 !== 0) throw new RangeError('fillDistinct needs a 4-byte aligned length and offset');
  warm();
  const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  let state = stateOf(seed);
  for (let at = 0; at < words.length; at += CHUNK_WORDS) state = fillWords(words.subarray(at, at + CHUNK_WORDS), state);
  return bytes;
}

const cache = new Map<number, Buffer>();

/**
 * `size` bytes of non-repeating data for `seed`. Buffers are cached per seed and shared: a smaller
 * size is a prefix of a larger one. Callers must not modify them.
 */
export function distinctData(size: number, seed: number): Buffer {
  const cached = cache.get(seed);
  if (cached !== undefined && cached.byteLength >= size) return cached.subarray(0, size);
  const bytes = Buffer.allocUnsafeSlow(Math.ceil(size / 4) * 4);
  fillDistinct(bytes, seed);
  cache.set(seed, bytes);
  return bytes.subarray(0, size);
}

/** Drops the cached buffers (a scenario that needed a gigabyte gives it back). */
export function releaseData(): void {
  cache.clear();
}

/** mulberry32: a small seeded generator of numbers in [0, 1), for offsets and choices. */
export function seededRandom(seed: number): () => number {
  let a = stateOf(seed) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random multiple of `align` in [0, limit − length], from `random`. */
export function alignedOffset(random: () => number, limit: number, length: number, align: number): number {
  const slots = Math.floor((limit - length) / align) + 1;
  return Math.floor(random() * slots) * align;
}

/** Marks `buffer` as write number `n`, so no two writes carry the same bytes (nothing dedups). */
export function stamp(buffer: Buffer, n: number): Buffer {
  buffer.writeDoubleLE(n, 0);
  buffer.writeDoubleLE(Math.PI * (n + 1), buffer.byteLength - 8);
  return buffer;
}
