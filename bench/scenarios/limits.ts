import { availableParallelism } from 'node:os';
import { DEFAULT_BLOCK_SIZE } from '../../src/index.js';
import { distinctData } from '../harness/data.js';
import { hashBlocks, Memcpy, ParallelHash } from '../harness/limits.js';
import { measure, type Case } from '../harness/measure.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { sizeName } from '../harness/settings.js';

/** Names of the limit cases, shared by the scenarios that interleave them with their own. */
export const limitCase = {
  memcpy: 'memcpy (Buffer.copy)',
  hash1: (blockSize: number) => `SHA-256, 1 thread, ${sizeName(blockSize)} blocks`,
  hashAll: (blockSize: number) => `SHA-256, ${availableParallelism()} threads, ${sizeName(blockSize)} blocks`,
};

/**
 * The limit cases, ready to interleave: memcpy over `bytes`, single-thread SHA-256 over `bytes`
 * at each block size, and all-core SHA-256 (`pool`) at each block size.
 */
export function limitCases(bytes: number, seed: number, blockSizes: readonly number[], pool: ParallelHash | undefined): Case[] {
  let memcpy: Memcpy | undefined;
  const cases: Case[] = [{
    name: limitCase.memcpy,
    setup: () => void (memcpy ??= new Memcpy(bytes, seed)),
    run: async () => memcpy!.run(),
    bytes,
  }];
  const data = (): Buffer => distinctData(bytes, seed);
  for (const blockSize of blockSizes) {
    cases.push({ name: limitCase.hash1(blockSize), setup: () => void data(), run: async () => hashBlocks(data(), blockSize), bytes });
    if (pool !== undefined) cases.push({ name: limitCase.hashAll(blockSize), run: () => pool.run(blockSize), bytes: pool.bytes() });
  }
  return cases;
}

/** Starts the all-core hashing pool: one thread per core, each over `bytesPerThread` of its own. */
export function startPool(bytesPerThread: number, seed: number): Promise<ParallelHash> {
  return ParallelHash.start(availableParallelism(), bytesPerThread, seed);
}

export const limits: Scenario = {
  name: 'limits',
  title: 'Limits: SHA-256 on 1 and all cores, memcpy',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const pool = await startPool(settings.limitBytes / 2, settings.seed + 1);
    try {
      const measured = context.keep(await measure(limitCases(settings.limitBytes, settings.seed, settings.blockSizes, pool), {
        seed: settings.seed,
        rounds: settings.rounds, iterations: 3, time: settings.quick ? 100 : 400, warmup: 1,
      }));
      const get = (name: string): number => measured.get(name)!.throughput!;
      const memcpy = get(limitCase.memcpy);
      const hash1Default = get(limitCase.hash1(DEFAULT_BLOCK_SIZE));
      const cores = availableParallelism();
      context.figure({
        name: limitCase.memcpy, value: memcpy, unit: 'B/s', samples: measured.get(limitCase.memcpy)!.samples,
        ratio: memcpy / hash1Default, reference: `SHA-256 on 1 thread at ${sizeName(DEFAULT_BLOCK_SIZE)}`,
        note: 'how many times faster a copy is than hashing the same bytes',
      });
      for (const blockSize of settings.blockSizes) {
        const one = get(limitCase.hash1(blockSize));
        const all = get(limitCase.hashAll(blockSize));
        context.figure({
          name: limitCase.hash1(blockSize), value: one, unit: 'B/s', samples: measured.get(limitCase.hash1(blockSize))!.samples,
          ratio: one / hash1Default, reference: `1 thread at ${sizeName(DEFAULT_BLOCK_SIZE)}`,
        });
        context.figure({
          name: limitCase.hashAll(blockSize), value: all, unit: 'B/s', samples: measured.get(limitCase.hashAll(blockSize))!.samples,
          ratio: all / one, reference: `1 thread (ideal ${cores}×)`,
        });
      }
      context.facts['cores'] = cores;
    } finally {
      await pool.close();
    }
  },
};
