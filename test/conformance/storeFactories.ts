import { openStore } from '../../src/index.js';
import type { Store } from '../model/api.js';

/**
 * Every implementation the conformance suites run on, as containerd's testsuite takes a factory:
 * `describe.each(storeFactories)`. Each `open()` gives a fresh, empty store with 4 KiB blocks
 * (small, so files of a few blocks cross block edges). A disk store joins this list when it
 * exists: `{ name: 'disk', open: () => openStore({ dir: freshTempDir(), workers: 0, blockSize: 4096 }) }`.
 */
export interface StoreFactory {
  name: string;
  /** Bytes per block of the stores it opens. */
  blockSize: number;
  /**
   * How many model runs (each on a fresh store) fit the suite's time budget by default. A store
   * with worker threads starts them on first use, about 0.3 s per store on 2 cores, so it gets
   * fewer runs; COWSTACK_FC_RUNS overrides every factory's.
   */
  defaultRuns: number;
  open(): Promise<Store>;
}

export const BLOCK_SIZE = 4096;

export const storeFactories: StoreFactory[] = [
  { name: 'memory', blockSize: BLOCK_SIZE, defaultRuns: 1000, open: () => openStore({ workers: 0, blockSize: BLOCK_SIZE }) },
  { name: 'memory+workers', blockSize: BLOCK_SIZE, defaultRuns: 150, open: () => openStore({ workers: 2, blockSize: BLOCK_SIZE }) },
];

/** A number from the environment, for run counts: `COWSTACK_FC_RUNS=200 npx vitest run …`. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive whole number, not ${raw}`);
  return value;
}
