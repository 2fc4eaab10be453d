import type { BlockId } from '../core/BlockId.js';

/**
 * Computes SHA-256 content ids of blocks: the hot path of every write, commit, import and
 * verified read.
 *
 * Contract:
 * - `hash(blocks)` resolves to one id per block, in the same order, each the SHA-256 of exactly
 *   that block's bytes. It never mutates a block. It may read a block until the promise settles
 *   and not after: the caller may reuse the memory once it has resolved or rejected.
 * - Calls may overlap; each resolves with its own results. An implementation bounds the work it
 *   holds in flight and makes callers wait (backpressure) rather than growing without limit.
 * - A pool whose threads keep dying before answering anything rejects with `EIO` (fail closed).
 * - `close()` ends every thread it started and rejects calls still waiting with `EBADF`; later
 *   calls reject with `EBADF`. `close()` on a closed hasher resolves.
 *
 * Implementations: `InlineHasher` (the calling thread, `workers: 0`) and `WorkerPoolHasher`
 * (`worker_threads`). Both give identical results.
 */
export interface Hasher {
  /** How many worker threads do the hashing; 0 for the calling thread. */
  readonly threads: number;
  hash(blocks: readonly Uint8Array[]): Promise<BlockId[]>;
  close(): Promise<void>;
}
