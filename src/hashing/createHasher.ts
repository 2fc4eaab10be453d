import { availableParallelism } from 'node:os';
import type { Hasher } from './Hasher.js';
import { InlineHasher } from './InlineHasher.js';
import { WorkerPoolHasher } from './WorkerPoolHasher.js';

/**
 * Most workers `defaultWorkerCount` picks. The main thread copies every block into a slab and turns
 * every digest into an id, several GB/s of work against about 1.5 GB/s of SHA-256 per worker (with
 * SHA extensions), so beyond about four workers it feeds them no faster and each one only adds a
 * thread, its memory (about 10 MB) and two slabs (8 MiB).
 */
const MAX_DEFAULT_WORKERS = 4;

/** The hasher for `workers` threads: `InlineHasher` for 0, a `WorkerPoolHasher` otherwise. */
export function createHasher(workers: number): Hasher {
  if (!Number.isSafeInteger(workers) || workers < 0) {
    throw new TypeError(`workers must be a non-negative integer, not ${workers}`);
  }
  return workers === 0 ? new InlineHasher() : new WorkerPoolHasher(workers);
}

/**
 * The `workers` default: 0 on a single CPU, where a thread could only take turns with the caller;
 * otherwise one per CPU up to `MAX_DEFAULT_WORKERS`. One per CPU rather than one fewer, because the
 * main thread's share of hashing is a small fraction of a worker's (measured on 2 CPUs, 64 KiB
 * blocks: 1 worker 1.4 GB/s, 2 workers 2.2 GB/s), and it mostly waits while they work.
 */
export function defaultWorkerCount(): number {
  const cpus = availableParallelism();
  return cpus < 2 ? 0 : Math.min(cpus, MAX_DEFAULT_WORKERS);
}
