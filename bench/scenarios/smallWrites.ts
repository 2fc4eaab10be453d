import { open, stat, type FileHandle as NodeFileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle, Layer } from '../../src/index.js';
import { alignedOffset, distinctData, seededRandom, stamp } from '../harness/data.js';
import { formatMs } from '../harness/figures.js';
import { measure, type Case, type Measured } from '../harness/measure.js';
import { Overlayfs, type OverlayMount } from '../harness/overlayfs.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { KiB, sizeName } from '../harness/settings.js';
import { StoreUnderTest, type StoreKind } from '../harness/stores.js';
import { warmUp } from './ingest.js';

const WRITE = 4 * KiB;
/** Goal: a 4 KiB write into a 1 GiB file at most this many times the latency of one into 16 MiB. */
const SCALING_GOAL = 1.5;
/** Writes of the exact stored-bytes count, each into a block of its own. */
const EXACT_WRITES = 32;

const fileName = (size: number): string => `file-${sizeName(size).replace(' ', '')}`;

/**
 * 4 KiB overwrites at seeded random offsets (4 KiB aligned, so each lies in one block) of a lower
 * file of 16 MiB, 256 MiB and 1 GiB, from a container on a committed image — in the memory store,
 * the disk store, and the kernel's overlayfs doing the same on the same disk.
 *
 * - steady state: writes through one open handle (overlayfs: after the copy-up);
 * - first write: open, write, close in a fresh container (overlayfs: a fresh mount, where opening
 *   for writing copies the whole file up);
 * - bytes stored per write: `stats().storedBytes` before and after 32 writes, exactly.
 */
export const smallWrites: Scenario = {
  name: 'cow-small-writes',
  title: 'Copy-on-write: 4 KiB overwrites of 16 MiB, 256 MiB and 1 GiB files',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const sizes = settings.smallWriteSizes;
    const smallest = Math.min(...sizes);
    const largest = Math.max(...sizes);
    const data = distinctData(largest, settings.seed);
    const random = seededRandom(settings.seed + 7);
    const buffer = Buffer.from(distinctData(WRITE, settings.seed + 8));
    let writes = 0;
    const next = (size: number): number => {
      stamp(buffer, ++writes);
      return alignedOffset(random, size, WRITE, WRITE);
    };
    await warmUp(context);

    const targets = new Map<StoreKind, StoreUnderTest>();
    const handles: (FileHandle | NodeFileHandle)[] = [];
    const mounts: OverlayMount[] = [];
    try {
      for (const kind of ['memory', 'disk'] as const) {
        const target = await StoreUnderTest.open(kind, {}, context.scratch);
        targets.set(kind, target);
        const build = await target.store.prepare('image.work');
        for (const size of sizes) await build.writeFile(`/${fileName(size)}`, data.subarray(0, size));
        await target.store.commit('image', 'image.work');
      }
      const unavailable = Overlayfs.unavailable(context.scratch);
      const overlay = unavailable === undefined ? Overlayfs.create(context.scratch) : undefined;
      if (overlay === undefined) {
        context.notice('overlayfs', `not available (${unavailable})`);
        process.stdout.write(`overlayfs: not available (${unavailable})\n`);
      } else {
        for (const size of sizes) overlay.writeLower(fileName(size), data.subarray(0, size));
      }

      // Steady state: one open handle per file, interleaved across stores and sizes.
      const steady: Case[] = [];
      for (const [kind, target] of targets) {
        for (const size of sizes) {
          let handle: FileHandle | undefined;
          let offset = 0;
          steady.push({
            name: `steady write, ${sizeName(size)} file, ${kind}`,
            setup: async () => {
              if (handle !== undefined) return;
              const container = await target.store.prepare(`steady-${size}`, 'image');
              handle = await container.open(`/${fileName(size)}`, 'r+');
              handles.push(handle);
            },
            beforeEach: () => void (offset = next(size)),
            run: () => handle!.write(buffer, 0, WRITE, offset),
          });
        }
      }
      if (overlay !== undefined) {
        for (const size of sizes) {
          let handle: NodeFileHandle | undefined;
          let offset = 0;
          steady.push({
            name: `steady write, ${sizeName(size)} file, overlayfs`,
            setup: async () => {
              if (handle !== undefined) return;
              const mount = overlay.mount();
              mounts.push(mount);
              handle = await open(join(mount.merged, fileName(size)), 'r+');
              handles.push(handle);
            },
            beforeEach: () => void (offset = next(size)),
            run: () => handle!.write(buffer, 0, WRITE, offset),
          });
        }
      }
      // Many short rounds: a load burst spans a few writes of every case, not many of one.
      const steadyMeasured = context.keep(await measure(steady, { seed: settings.seed, rounds: Math.ceil(settings.smallWrites / 3), iterations: 3, warmup: 8, collect: 'none' }));

      // First write: a fresh container (a fresh overlay mount) each time.
      const first: Case[] = [];
      for (const [kind, target] of targets) {
        for (const size of sizes) {
          let layer: Layer | undefined;
          let key = '';
          let offset = 0;
          let n = 0;
          first.push({
            name: `first write, ${sizeName(size)} file, ${kind}`,
            beforeEach: async () => {
              key = `first-${size}-${++n}`;
              layer = await target.store.prepare(key, 'image');
              offset = next(size);
            },
            run: async () => {
              const handle = await layer!.open(`/${fileName(size)}`, 'r+');
              await handle.write(buffer, 0, WRITE, offset);
              await handle.close();
            },
            afterEach: () => target.store.remove(key),
          });
        }
      }
      const firstMeasured = context.keep(await measure(first, { seed: settings.seed, rounds: settings.quick ? 2 : 12, iterations: 3, warmup: 2, collect: 'none' }));
      const copiedUp = new Map<number, number[]>();
      if (overlay !== undefined) {
        const overlayFirst: Case[] = sizes.map((size) => {
          let mount: OverlayMount | undefined;
          let offset = 0;
          return {
            name: `first write, ${sizeName(size)} file, overlayfs`,
            beforeEach: () => {
              mount = overlay.mount();
              offset = next(size);
            },
            run: async () => {
              const handle = await open(join(mount!.merged, fileName(size)), 'r+');
              await handle.write(buffer, 0, WRITE, offset);
              await handle.close();
            },
            afterEach: async () => {
              const upper = await stat(join(mount!.upper, fileName(size)));
              copiedUp.set(size, [...(copiedUp.get(size) ?? []), upper.blocks * 512]);
              mount!.unmount();
            },
          };
        });
        for (const [name, m] of context.keep(await measure(overlayFirst, { seed: settings.seed, rounds: settings.rounds, iterations: settings.overlayMounts }))) firstMeasured.set(name, m);
      }

      // Exact bytes stored per write.
      const exact = new Map<string, { stored: number; usage: number }>();
      for (const [kind, target] of targets) {
        const { store } = target;
        for (const size of sizes) {
          const key = `exact-${size}`;
          const layer = await store.prepare(key, 'image');
          const handle = await layer.open(`/${fileName(size)}`, 'r+');
          const blocks = size / store.blockSize;
          const chosen = new Set<number>();
          while (chosen.size < Math.min(EXACT_WRITES, blocks)) chosen.add(Math.floor(random() * blocks));
          const before = (await store.stats()).storedBytes;
          for (const block of chosen) {
            stamp(buffer, ++writes);
            await handle.write(buffer, 0, WRITE, block * store.blockSize + alignedOffset(random, store.blockSize, WRITE, WRITE));
          }
          await handle.close();
          const after = (await store.stats()).storedBytes;
          exact.set(`${kind} ${size}`, { stored: (after - before) / chosen.size, usage: (await store.usage(key)).size / chosen.size });
        }
      }

      report(context, { sizes, smallest, largest, steady: steadyMeasured, first: firstMeasured, exact, copiedUp, targets, overlay: overlay !== undefined });
    } finally {
      for (const handle of handles) await handle.close().catch(() => undefined);
      for (const mount of mounts) mount.unmount();
      for (const target of targets.values()) await target.close();
    }
  },
};

interface Results {
  readonly sizes: readonly number[];
  readonly smallest: number;
  readonly largest: number;
  readonly steady: Map<string, Measured>;
  readonly first: Map<string, Measured>;
  readonly exact: Map<string, { stored: number; usage: number }>;
  readonly copiedUp: Map<number, number[]>;
  readonly targets: Map<StoreKind, StoreUnderTest>;
  readonly overlay: boolean;
}

function report(context: ScenarioContext, r: Results): void {
  for (const [kind, target] of r.targets) {
    const blockSize = target.store.blockSize;
    const base = r.steady.get(`steady write, ${sizeName(r.smallest)} file, ${kind}`)!;
    for (const size of r.sizes) {
      const m = r.steady.get(`steady write, ${sizeName(size)} file, ${kind}`)!;
      context.figure({
        name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
        ratio: m.medianMs / base.medianMs, reference: `${sizeName(r.smallest)} file, ${kind} (${formatMs(base.medianMs)})`,
        ...(size === r.largest ? { goal: { op: '<=', target: SCALING_GOAL }, headline: true } : {}),
      });
    }
    const firstBase = r.first.get(`first write, ${sizeName(r.smallest)} file, ${kind}`)!;
    for (const size of r.sizes) {
      const m = r.first.get(`first write, ${sizeName(size)} file, ${kind}`)!;
      context.figure({
        name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
        ratio: m.medianMs / firstBase.medianMs, reference: `${sizeName(r.smallest)} file, ${kind}`,
        note: 'open r+, write 4 KiB, close, in a fresh container',
      });
    }
    for (const size of r.sizes) {
      const { stored, usage } = r.exact.get(`${kind} ${size}`)!;
      context.figure({
        name: `bytes stored per 4 KiB write, ${sizeName(size)} file, ${kind}`, value: stored, unit: 'B',
        ratio: stored / blockSize, reference: `one block (${sizeName(blockSize)})`, goal: { op: '==', target: 1 },
        note: `usage(key).size per write: ${usage} B`, ...(size === r.largest ? { headline: true } : {}),
      });
    }
  }
  if (!r.overlay) return;
  for (const size of r.sizes) {
    const peerSteady = r.steady.get(`steady write, ${sizeName(size)} file, disk`)!;
    const m = r.steady.get(`steady write, ${sizeName(size)} file, overlayfs`)!;
    context.figure({
      name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
      ratio: m.medianMs / peerSteady.medianMs, reference: `cowstack disk store (${formatMs(peerSteady.medianMs)})`,
      note: 'a write into the page cache, after the copy-up',
    });
  }
  for (const size of r.sizes) {
    const peerFirst = r.first.get(`first write, ${sizeName(size)} file, disk`)!;
    const m = r.first.get(`first write, ${sizeName(size)} file, overlayfs`)!;
    context.figure({
      name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
      ratio: m.medianMs / peerFirst.medianMs, reference: `cowstack disk store (${formatMs(peerFirst.medianMs)})`,
      note: 'opening for writing copies the whole file up', headline: size === r.largest,
    });
  }
  const blockSize = r.targets.get('disk')!.store.blockSize;
  for (const size of r.sizes) {
    const copied = r.copiedUp.get(size) ?? [];
    const bytes = copied.length === 0 ? Number.NaN : Math.min(...copied);
    context.figure({
      name: `bytes stored by the first 4 KiB write, ${sizeName(size)} file, overlayfs`, value: bytes, unit: 'B',
      ratio: bytes / blockSize, reference: `cowstack: one block (${sizeName(blockSize)})`,
      note: 'upper-layer file size on disk after the copy-up', headline: size === r.largest,
    });
  }
}
