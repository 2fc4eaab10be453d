import { DEFAULT_BLOCK_SIZE, type FileHandle, type Layer } from '../../src/index.js';
import { alignedOffset, distinctData, seededRandom, stamp } from '../harness/data.js';
import { formatBytes, formatMs } from '../harness/figures.js';
import { measure, type Case, type Measured } from '../harness/measure.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { GiB, KiB, sizeName } from '../harness/settings.js';
import { commitFile, packStats, StoreUnderTest } from '../harness/stores.js';
import { warmUp } from './ingest.js';

const SMALL = 4 * KiB;

/**
 * The figures behind the default `blockSize`, at 4 KiB, 16 KiB, 64 KiB, 256 KiB and 1 MiB, on the
 * disk store with its default options (`verifyReads: true`, default workers), which is what a
 * default serves:
 * - ingest of a 256 MiB file (fresh store per call), interleaved across sizes;
 * - on the last ingested store: 4 KiB overwrites in a container (latency, and bytes stored per
 *   write: the write amplification), 4 KiB reads at random offsets through a view (latency),
 *   and `readFile` of the whole file (bandwidth);
 * - the tree-node bytes the packs hold per byte of data, right after the ingest.
 * Every figure is against the same figure at the current default.
 */
export const blockSize: Scenario = {
  name: 'block-size',
  title: 'Block size: ingest, small writes, reads at 4 KiB … 1 MiB',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const sizes = settings.blockSizes;
    const bytes = settings.blockSweepBytes;
    const data = distinctData(bytes, settings.seed);
    const random = seededRandom(settings.seed + 11);
    const kept = new Map<number, StoreUnderTest>();
    const nodes = new Map<number, { nodeBytes: number; nodes: number }>();
    const handles: FileHandle[] = [];
    try {
      for (const size of sizes) await warmUp(context, { blockSize: size }, ['disk']);
      const ingestCases: Case[] = sizes.map((size) => {
        let target: StoreUnderTest | undefined;
        return {
          name: name('ingest', size, bytes),
          beforeEach: async () => {
            target = await StoreUnderTest.open('disk', { blockSize: size }, context.scratch, true);
          },
          run: () => commitFile(target!.store, 'image', undefined, '/data.bin', data),
          afterEach: async () => {
            nodes.set(size, await target!.whileClosed(packStats, { blockSize: size }));
            await kept.get(size)?.close();
            kept.set(size, target!);
          },
          bytes,
        };
      });
      const ingest = context.keep(await measure(ingestCases, { seed: settings.seed, rounds: settings.quick ? 1 : 2, iterations: 1 }));

      const buffer = Buffer.from(distinctData(SMALL, settings.seed + 12));
      const readBuffer = Buffer.alloc(SMALL);
      let stamps = 0;
      const writesDone = new Map<number, number>();
      const storedBefore = new Map<number, number>();
      const smallCases: Case[] = [];
      for (const size of sizes) {
        const target = kept.get(size);
        if (target === undefined) continue;
        let writer: FileHandle | undefined;
        let reader: FileHandle | undefined;
        let offset = 0;
        smallCases.push({
          name: name('4 KiB overwrite', size, bytes),
          setup: async () => {
            if (writer !== undefined) return;
            storedBefore.set(size, (await target.store.stats()).storedBytes);
            writer = await (await target.store.prepare('writer', 'image')).open('/data.bin', 'r+');
            handles.push(writer);
          },
          beforeEach: () => {
            stamp(buffer, ++stamps);
            offset = alignedOffset(random, bytes, SMALL, SMALL);
          },
          run: async () => {
            await writer!.write(buffer, 0, SMALL, offset);
            writesDone.set(size, (writesDone.get(size) ?? 0) + 1);
          },
        }, {
          name: name('4 KiB random read', size, bytes),
          setup: async () => {
            if (reader !== undefined) return;
            reader = await (await target.store.view('reader', 'image')).open('/data.bin', 'r');
            handles.push(reader);
          },
          beforeEach: () => void (offset = alignedOffset(random, bytes, SMALL, SMALL)),
          run: () => reader!.read(readBuffer, 0, SMALL, offset),
        });
      }
      const small = context.keep(await measure(smallCases, { seed: settings.seed, rounds: settings.quick ? 4 : 45, iterations: 4, warmup: 4, collect: 'none' }));
      const stored = new Map<number, number>();
      for (const size of sizes) {
        const target = kept.get(size);
        if (target === undefined || !writesDone.has(size)) continue;
        stored.set(size, ((await target.store.stats()).storedBytes - storedBefore.get(size)!) / writesDone.get(size)!);
      }

      const readCases: Case[] = [...kept].map(([size, target]) => {
        let view: Layer | undefined;
        return {
          name: name('readFile', size, bytes),
          setup: async () => void (view ??= await target.store.view('sequential', 'image')),
          run: () => view!.readFile('/data.bin'),
          bytes,
        };
      });
      const reads = context.keep(await measure(readCases, { seed: settings.seed, rounds: settings.quick ? 1 : 2, iterations: 1 }));

      report(context, { sizes, bytes, ingest, small, reads, stored, nodes });
    } finally {
      for (const handle of handles) await handle.close().catch(() => undefined);
      for (const target of kept.values()) await target.close().catch(() => undefined);
    }
  },
};

function name(what: string, size: number, bytes: number): string {
  return `${what}${what === 'ingest' || what === 'readFile' ? ` ${sizeName(bytes)}` : ''}, ${sizeName(size)} blocks, disk`;
}

interface Sweep {
  readonly sizes: readonly number[];
  readonly bytes: number;
  readonly ingest: Map<string, Measured>;
  readonly small: Map<string, Measured>;
  readonly reads: Map<string, Measured>;
  readonly stored: Map<number, number>;
  readonly nodes: Map<number, { nodeBytes: number; nodes: number }>;
}

function report(context: ScenarioContext, s: Sweep): void {
  const at = (map: Map<string, Measured>, what: string, size: number): Measured | undefined => map.get(name(what, size, s.bytes));
  const base = DEFAULT_BLOCK_SIZE;
  const against = `${sizeName(base)} blocks`;
  for (const size of s.sizes) {
    const m = at(s.ingest, 'ingest', size);
    const ref = at(s.ingest, 'ingest', base);
    if (m === undefined || ref === undefined) continue;
    context.figure({
      name: m.name, value: m.throughput!, unit: 'B/s', samples: m.samples,
      ratio: m.throughput! / ref.throughput!, reference: `${against} (${(ref.throughput! / 2 ** 20).toFixed(0)} MiB/s)`,
    }, m.error);
  }
  for (const what of ['4 KiB overwrite', '4 KiB random read'] as const) {
    const ref = at(s.small, what, base);
    for (const size of s.sizes) {
      const m = at(s.small, what, size);
      if (m === undefined || ref === undefined) continue;
      context.figure({
        name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
        ratio: m.medianMs / ref.medianMs, reference: `${against} (${formatMs(ref.medianMs)})`,
      }, m.error);
    }
  }
  for (const size of s.sizes) {
    const stored = s.stored.get(size);
    if (stored === undefined) continue;
    context.figure({
      name: `bytes stored per 4 KiB overwrite, ${sizeName(size)} blocks, disk`, value: stored, unit: 'B',
      ratio: stored / SMALL, reference: 'the 4 KiB written (write amplification)',
    });
  }
  for (const size of s.sizes) {
    const m = at(s.reads, 'readFile', size);
    const ref = at(s.reads, 'readFile', base);
    if (m === undefined || ref === undefined) continue;
    context.figure({
      name: m.name, value: m.throughput!, unit: 'B/s', samples: m.samples,
      ratio: m.throughput! / ref.throughput!, reference: `${against} (${(ref.throughput! / 2 ** 20).toFixed(0)} MiB/s)`,
    }, m.error);
  }
  for (const size of s.sizes) {
    const n = s.nodes.get(size);
    if (n === undefined) continue;
    const perGiB = (n.nodeBytes / s.bytes) * GiB;
    context.figure({
      name: `tree-node bytes per GiB of data, ${sizeName(size)} blocks, disk`, value: perGiB, unit: 'B',
      ratio: n.nodeBytes / s.bytes, reference: 'the data bytes',
      note: `${formatBytes(n.nodeBytes)} in ${n.nodes} nodes for ${sizeName(s.bytes)}; index entries: ${(GiB / size).toLocaleString('en')} per GiB`,
    });
  }
}
