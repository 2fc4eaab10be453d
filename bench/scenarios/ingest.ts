import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_BLOCK_SIZE } from '../../src/index.js';
import { distinctData } from '../harness/data.js';
import { measure, type Case } from '../harness/measure.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import type { Scratch } from '../harness/scratch.js';
import { MiB, sizeName } from '../harness/settings.js';
import { commitFile, StoreUnderTest, type StoreKind } from '../harness/stores.js';
import { limitCase, startPool } from './limits.js';

/** Goals: ingest at this share of the all-core SHA-256 limit, or better. */
const GOAL = { memory: 0.8, disk: 0.6 } as const;

/**
 * 1 GiB of non-repeating data written into a container (one `writeFile`) and committed, into a
 * fresh memory store and a fresh disk store each time, with the default options. Each round runs
 * the all-core SHA-256 limit beside the two ingests, so the ratio compares figures taken under
 * the same load; and two more references that explain the ratios: the copy of every block into
 * new memory that the memory store makes, and the disk's own sequential write + fsync.
 */
export const ingest: Scenario = {
  name: 'ingest',
  title: 'Ingest 1 GiB into a container and commit',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const bytes = settings.ingestBytes;
    const data = distinctData(bytes, settings.seed);
    await warmUp(context);
    const pool = await startPool(32 * MiB, settings.seed + 1);
    // As many bytes as an ingest, so the limit is sampled over as long a stretch of the load.
    const passes = Math.max(1, Math.round(bytes / pool.bytes()));
    const stored: Record<string, number[]> = { memory: [], disk: [] };
    try {
      const cases: Case[] = [
        { name: limitCase.hashAll(DEFAULT_BLOCK_SIZE), run: () => pool.run(DEFAULT_BLOCK_SIZE, passes), bytes: pool.bytes(passes) },
        { name: COPY, run: async () => copyIntoFreshBlocks(data, DEFAULT_BLOCK_SIZE), bytes },
        writeLimitCase(context.scratch, data),
      ];
      for (const kind of ['memory', 'disk'] as const) {
        let target: StoreUnderTest | undefined;
        cases.push({
          name: `ingest ${sizeName(bytes)}, ${kind} store`,
          beforeEach: async () => {
            target = await StoreUnderTest.open(kind, {}, context.scratch, true);
          },
          run: () => commitFile(target!.store, 'image', undefined, '/data.bin', data),
          afterEach: async () => {
            stored[kind]!.push((await target!.store.stats()).storedBytes);
            await target!.close();
            target = undefined;
          },
          bytes,
        });
      }
      const measured = context.keep(await measure(cases, { seed: settings.seed, rounds: settings.rounds, iterations: 1 }));
      const limit = measured.get(limitCase.hashAll(DEFAULT_BLOCK_SIZE))!;
      context.figure({
        name: limit.name, value: limit.throughput!, unit: 'B/s', samples: limit.samples,
        ratio: 1, reference: 'itself: the limit the ingests are held against',
      });
      for (const kind of ['memory', 'disk'] as StoreKind[]) {
        const m = measured.get(`ingest ${sizeName(bytes)}, ${kind} store`)!;
        context.figure({
          name: m.name, value: m.throughput!, unit: 'B/s', p99: bytes / (m.p99Ms / 1000), samples: m.samples,
          ratio: m.throughput! / limit.throughput!, reference: `all-core SHA-256 at ${sizeName(DEFAULT_BLOCK_SIZE)}`,
          goal: { op: '>=', target: GOAL[kind] }, headline: true,
          note: 'p99 column: the slowest iteration as a throughput',
        }, m.error);
      }
      const copy = measured.get(COPY)!;
      const inMemory = measured.get(`ingest ${sizeName(bytes)}, memory store`)!;
      context.figure({
        name: copy.name, value: copy.throughput!, unit: 'B/s', samples: copy.samples,
        ratio: copy.throughput! / limit.throughput!, reference: `all-core SHA-256 at ${sizeName(DEFAULT_BLOCK_SIZE)}`,
        note: 'what the memory store does besides hashing: a private copy of every block in new memory',
      });
      const write = measured.get(WRITE)!;
      const onDisk = measured.get(`ingest ${sizeName(bytes)}, disk store`)!;
      context.figure({
        name: write.name, value: write.throughput!, unit: 'B/s', samples: write.samples,
        ratio: write.throughput! / limit.throughput!, reference: `all-core SHA-256 at ${sizeName(DEFAULT_BLOCK_SIZE)}`,
        note: 'the disk under the store: one file, 64 MiB writes, then fsync',
      }, write.error);
      context.figure({
        name: `${onDisk.name}: against the disk`, value: onDisk.throughput!, unit: 'B/s', samples: onDisk.samples,
        ratio: onDisk.throughput! / write.throughput!, reference: `sequential write + fsync (${(write.throughput! / 2 ** 20).toFixed(0)} MiB/s)`,
      }, onDisk.error);
      context.figure({
        name: `${inMemory.name}: against its copy`, value: inMemory.throughput!, unit: 'B/s', samples: inMemory.samples,
        ratio: inMemory.throughput! / copy.throughput!, reference: `the copy into fresh blocks (${(copy.throughput! / 2 ** 20).toFixed(0)} MiB/s)`,
      }, inMemory.error);
      context.facts['storedBytesPerIngest'] = stored;
    } finally {
      await pool.close();
    }
  },
};

const COPY = `copy into fresh ${sizeName(DEFAULT_BLOCK_SIZE)} buffers (Buffer.from per block)`;

/** A private copy of every block of `data` in new memory, held until the end as the memory store holds them. */
function copyIntoFreshBlocks(data: Buffer, blockSize: number): number {
  const kept: Buffer[] = [];
  for (let at = 0; at < data.byteLength; at += blockSize) kept.push(Buffer.from(data.subarray(at, at + blockSize)));
  return kept.length;
}

const WRITE = 'sequential write + fsync of the same bytes (node:fs)';

/** The disk's own limit: the data written to one new file in the temp dir, 64 MiB a call, then fsynced. */
function writeLimitCase(scratch: Scratch, data: Buffer): Case {
  let dir: string | undefined;
  return {
    name: WRITE,
    beforeEach: () => void (dir = scratch.dir('write')),
    run: async () => {
      const file = await open(join(dir!, 'data.bin'), 'w');
      try {
        for (let at = 0; at < data.byteLength; at += 64 * MiB) await file.write(data, at, Math.min(64 * MiB, data.byteLength - at), at);
        await file.sync();
      } finally {
        await file.close();
      }
    },
    afterEach: () => scratch.remove(dir!),
    bytes: data.byteLength,
  };
}

/** One small untimed ingest into each kind of store, so the timed ones run optimized code. */
export async function warmUp(context: ScenarioContext, options: { workers?: number; blockSize?: number } = {}, kinds: readonly StoreKind[] = ['memory', 'disk']): Promise<void> {
  const data = distinctData(context.settings.warmBytes, context.settings.seed + 99);
  for (const kind of kinds) {
    const target = await StoreUnderTest.open(kind, options, context.scratch);
    try {
      await commitFile(target.store, 'warm', undefined, '/warm.bin', data);
      const view = await target.store.view('warm.view', 'warm');
      await view.readFile('/warm.bin');
    } finally {
      await target.close();
    }
  }
}
