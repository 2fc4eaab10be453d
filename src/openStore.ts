import { fsError } from './core/errors.js';
import { createHasher, defaultWorkerCount } from './hashing/createHasher.js';
import { SnapshotStore } from './snapshots/SnapshotStore.js';
import type { OpenOptions, Store } from './snapshots/Store.js';
import { registrySources } from './registry/RegistryBlockSource.js';
import { FetchingBlockStore } from './store/FetchingBlockStore.js';
import { MemoryBlockStore } from './store/MemoryBlockStore.js';
import type { FileSystem } from './store/disk/FileSystem.js';
import { openDiskStore } from './store/disk/openDiskStore.js';

/**
 * The default block size: 64 KiB. Small enough that a one-byte write into a container copies
 * little, large enough that per-block costs (an id, a map slot, a hash call) stay small against
 * the data; see README and bench/ for the figures behind it.
 */
export const DEFAULT_BLOCK_SIZE = 65536;
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 1048576;
/** More hashing threads than this only cost memory: the main thread cannot feed them. */
export const MAX_WORKERS = 64;

/**
 * Options tests may add beside the public ones: the file layer to use (for fault injection) and
 * a pack size target (to exercise compaction with small data). Not part of the API.
 */
export interface InternalOpenOptions {
  fileSystem?: FileSystem;
  packTarget?: number;
}

function internal(options: OpenOptions & InternalOpenOptions): InternalOpenOptions {
  return {
    ...(options.fileSystem === undefined ? {} : { fileSystem: options.fileSystem }),
    ...(options.packTarget === undefined ? {} : { packTarget: options.packTarget }),
  };
}

/** Opens a store: in memory without `dir`, durable in `dir` with it (shared/API.md, "Opening a store"). */
export async function openStore(options: OpenOptions = {}): Promise<Store> {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw fsError('EINVAL', { syscall: 'open', detail: `blockSize must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}, not ${blockSize}` });
  }
  const workers = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS) {
    throw fsError('EINVAL', { syscall: 'open', detail: `workers must be a whole number from 0 to ${MAX_WORKERS}, not ${workers}` });
  }
  const hasher = createHasher(workers);
  if (options.dir === undefined) {
    return new SnapshotStore(new FetchingBlockStore(new MemoryBlockStore(blockSize, hasher), hasher, undefined), hasher, { readOnly: options.readOnly === true });
  }
  if (typeof options.dir !== 'string') throw new TypeError('dir must be a string');
  try {
    return await openDiskStore({
      dir: options.dir,
      blockSize: options.blockSize,
      defaultBlockSize: DEFAULT_BLOCK_SIZE,
      hasher,
      sourceFactory: registrySources(options.registryAuth),
      verifyReads: options.verifyReads !== false,
      readOnly: options.readOnly === true,
      ...internal(options),
    });
  } catch (error) {
    await hasher.close();
    throw error;
  }
}
