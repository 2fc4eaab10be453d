import type { BlockId } from '../core/BlockId.js';
import type { BlockRef } from '../core/BlockVector.js';

/** One problem `verify` found. */
export interface BlockProblem {
  readonly id: BlockId;
  readonly code: 'EINTEGRITY' | 'EIO';
  readonly message: string;
}

/** What a block store holds: distinct blocks, each counted once. */
export interface BlockStoreStats {
  readonly blocks: number;
  readonly bytes: number;
}

/**
 * Content-addressed storage of data blocks: each block is kept once, under the SHA-256 of its
 * bytes, however many files and snapshots hold it.
 *
 * Contract:
 * - `put(blocks)` resolves to one `BlockRef` per block, in order: `null` for a block of zeros (a
 *   hole: never stored), otherwise its id, with the block stored (once) when it resolves. It
 *   copies what it keeps: the caller may reuse its buffers afterwards. Blocks are at most
 *   `blockSize` bytes.
 * - `putHashed(blocks, ids)` is `put` for blocks whose ids the caller has just computed on this
 *   store's hasher (`ids[i]` is the SHA-256 of `blocks[i]`; none is a block of zeros): it stores
 *   them without hashing again. Only for bytes the caller hashed itself (the fetched blocks a
 *   `FetchingBlockStore` has checked): an id taken on trust would let wrong bytes in.
 * - `get(id)` resolves to the block's bytes, which the caller must not modify. It rejects with
 *   `EINTEGRITY` when the stored bytes no longer hash to `id` (where the store verifies reads) and
 *   with `EINTEGRITY` when no block `id` is stored: a reference to a missing block is damage.
 * - `has(id)` tells without reading.
 * - `delete(ids)` removes blocks and gives their space back; ids not stored are ignored. Only the
 *   garbage collector calls it, once it has proved nothing references them.
 * - `ids()` lists every stored id (for the collector's sweep); `verify()` re-reads and re-hashes
 *   every block and reports the ones that do not match.
 * - `checkWritable(syscall)` throws what a write would reject with now: `EIO` (or `ENOSPC`) once a
 *   write or fsync of a durable store has failed (it fails closed), `EROFS` when read-only. The
 *   store calls it before every write, data or metadata, so a broken store accepts none.
 * - `close()` is idempotent; any other call after it rejects with `EBADF`.
 *
 * Implementations: `MemoryBlockStore`; the disk store comes with the durable store.
 */
export interface BlockStore {
  readonly blockSize: number;
  put(blocks: readonly Uint8Array[]): Promise<BlockRef[]>;
  putHashed(blocks: readonly Uint8Array[], ids: readonly BlockId[]): Promise<void>;
  get(id: BlockId): Promise<Uint8Array>;
  has(id: BlockId): boolean;
  delete(ids: Iterable<BlockId>): Promise<BlockStoreStats>;
  ids(): Iterable<BlockId>;
  /** Bytes of one stored block (0 when absent), for usage figures without reading it. */
  sizeOf(id: BlockId): number;
  stats(): BlockStoreStats;
  verify(onProgress?: (done: number, total: number) => void): Promise<BlockProblem[]>;
  checkWritable(syscall: string): void;
  close(): Promise<void>;
}
