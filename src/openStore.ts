import { fsError } from './core/errors.js';
import { createHasher, defaultWorkerCount } from './hashing/createHasher.js';
import { SnapshotStore } from './snapshots/SnapshotStore.js';
import type { OpenOptions, Store } from './snapshots/Store.js';
import { MemoryBlockStore } from './store/MemoryBlockStore.js';

/**
 * The default block size: 64 KiB. Small enough that a one-byte write into a container copies
 * little, large enough that per-block costs (an id, a map slot, a hash call) stay small against
 * the data; see README and bench/ for the figures behind it.
 */
export const DEFAULT_BLOCK_SIZE = 65536;
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 1048576;

/** Opens a store: in memory without `dir` (shared/API.md, "Opening a store"). */
export async function openStore(options: OpenOptions = {}): Promise<Store> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw fsError('EINVAL', { syscall: 'open', detail: `blockSize must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}, not ${blockSize}` });
  }
  const workers = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(workers) || workers < 0) throw fsError('EINVAL', { syscall: 'open', detail: `workers must be a whole number, not ${workers}` });
  if (options.dir !== undefined) {
    throw fsError('EINVAL', { syscall: 'open', path: options.dir, detail: 'durable (disk) stores are not built yet: open without dir for a memory store' });
  }
  const hasher = createHasher(workers);
  return new SnapshotStore(new MemoryBlockStore(blockSize, hasher), hasher, { readOnly: options.readOnly === true });
}
