import type { Layer, Store } from '../../src/index.js';
import { distinctData } from '../harness/data.js';
import { formatMs } from '../harness/figures.js';
import { Memcpy } from '../harness/limits.js';
import { measure, quantile, type Case, type Measured } from '../harness/measure.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { MiB, sizeName } from '../harness/settings.js';
import { StoreUnderTest } from '../harness/stores.js';
import { limitCase } from './limits.js';

/** Goals: the deepest read within this factor of the shallowest; a read from memory at this share of memcpy. */
const DEPTH_GOAL = 1.2;
const MEMCPY_GOAL = 0.5;
/** `FileHandle.read` size of the handle reads. */
const CHUNK = MiB;
/** The floor of any `readFile`: a fresh buffer of the file's size, and one copy into it. */
const FRESH = 'memcpy into a fresh buffer (Buffer.alloc + Buffer.copy)';

/**
 * Reading a 256 MiB file through 1, 10, 100 and 1000 layers: the file is committed in the bottom
 * layer, and every layer above is a commit that adds a small unrelated file; reads go through a
 * view on the top layer. Two ways of reading, interleaved with memcpy of the same bytes:
 * - through one `FileHandle`, 1 MiB `read`s into one reused, pre-faulted buffer: the engine's read
 *   path and nothing else — this carries the depth goal;
 * - `readFile`, a fresh buffer per read as `fs.readFile` gives, whose new pages must fault in:
 *   held against memcpy, and against a memcpy into a fresh buffer (the floor of any readFile).
 * From the memory store (opened with `verifyReads: false`, which only a disk store heeds), and
 * from the disk store (packs in the page cache) with `verifyReads` false and true, at the
 * shallowest and deepest depths only (a disk read of the file takes seconds here).
 */
export const deepStacks: Scenario = {
  name: 'deep-stacks',
  title: 'Deep stacks: read 256 MiB through 1 to 1000 layers',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const bytes = settings.deepFileBytes;
    const data = distinctData(bytes, settings.seed);
    const memcpy = new Memcpy(bytes, settings.seed + 3);
    const reused = Buffer.alloc(bytes, 1);
    const peers: Case[] = [
      { name: limitCase.memcpy, run: async () => memcpy.run(), bytes },
      { name: FRESH, run: async () => memcpy.runIntoFresh(), bytes },
    ];
    const deepest = Math.max(...settings.deepDepths);
    const ends = [Math.min(...settings.deepDepths), deepest];

    const memory = await StoreUnderTest.open('memory', { verifyReads: false }, context.scratch);
    try {
      reportBuild(context, await buildStack(memory.store, data, deepest), 'memory');
      const measured = await measureReads(context, [
        [...peers, ...handleCases(memory.store, settings.deepDepths, bytes, 'memory', reused)],
        [...peers, ...readFileCases(memory.store, ends, bytes, 'memory')],
      ]);
      report(context, measured, settings.deepDepths, ends, 'memory', bytes, true);
    } finally {
      await memory.close();
    }

    const disk = await StoreUnderTest.open('disk', {}, context.scratch);
    try {
      reportBuild(context, await buildStack(disk.store, data, deepest), 'disk');
      for (const verifyReads of [false, true]) {
        await disk.reopen({ verifyReads });
        const label = `disk, verifyReads ${verifyReads}`;
        const top = [Math.max(...settings.deepDiskDepths)];
        const measured = await measureReads(context, [
          [...peers, ...handleCases(disk.store, settings.deepDiskDepths, bytes, label, reused)],
          [...peers, ...readFileCases(disk.store, top, bytes, label)],
        ]);
        report(context, measured, settings.deepDiskDepths, top, label, bytes, false);
      }
    } finally {
      await disk.close();
    }
  },
};

/**
 * The handle reads, then the `readFile`s, each with the peers. They are measured apart because
 * they need different collection policies: a handle read runs after a collection of what the
 * previous case left, and then reuses what its own 1 MiB reads free, as a process that keeps
 * reading does; every `readFile` starts from a collected heap, so none pays for the 256 MiB the
 * previous one left.
 */
async function measureReads(context: ScenarioContext, [handles, readFiles]: [Case[], Case[]]): Promise<Map<string, Measured>> {
  const { settings } = context;
  const out = context.keep(await measure(handles, { seed: settings.seed, rounds: settings.quick ? 2 : 12, iterations: 1, warmup: 1, collect: 'case' }));
  const whole = context.keep(await measure(readFiles, { seed: settings.seed, rounds: settings.quick ? 1 : 5, iterations: 1, warmup: 1, collect: 'call' }));
  for (const [name, m] of whole) if (!out.has(name)) out.set(name, m);
  return out;
}

/**
 * Commits `data` as `/data.bin` in layer L1, then layers L2 … L`depth`, each adding a small file.
 * Resolves to how long each layer took (prepare, write, commit), L2 first.
 */
async function buildStack(store: Store, data: Uint8Array, depth: number): Promise<number[]> {
  const base = await store.prepare('L1.work');
  await base.writeFile('/data.bin', data);
  await store.commit('L1', 'L1.work');
  const took: number[] = [];
  for (let i = 2; i <= depth; i++) {
    const start = performance.now();
    const layer = await store.prepare(`L${i}.work`, `L${i - 1}`);
    await layer.writeFile(`/layer-${i}.txt`, `layer ${i}\n`);
    await store.commit(`L${i}`, `L${i}.work`);
    took.push(performance.now() - start);
  }
  return took;
}

/** The cost of adding a layer on top of the deepest stack against adding one near the bottom. */
function reportBuild(context: ScenarioContext, took: readonly number[], label: string): void {
  const span = Math.min(10, Math.floor(took.length / 2));
  if (span === 0) return;
  const median = (xs: readonly number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);
  const first = median(took.slice(0, span));
  const last = median(took.slice(-span));
  context.figure({
    name: `add a layer (prepare, small write, commit) at depth ${took.length + 1}, ${label}`, value: last, unit: 'ms', samples: span,
    ratio: last / first, reference: `layers 2–${span + 1} (${formatMs(first)})`,
    note: 'timed while building the stack, outside tinybench: a layer is added once',
  });
}

let views = 0;

/** A view on layer L`depth`, made once (setup hooks run once per phase: idempotent). */
function viewOf(store: Store, depth: number): () => Promise<Layer> {
  let view: Promise<Layer> | undefined;
  return () => (view ??= store.view(`view-${++views}`, `L${depth}`));
}

function handleCases(store: Store, depths: readonly number[], bytes: number, label: string, into: Buffer): Case[] {
  return depths.map((depth) => {
    const view = viewOf(store, depth);
    return {
      name: handleName(depth, bytes, label),
      setup: async () => void (await view()),
      run: async () => {
        const handle = await (await view()).open('/data.bin', 'r');
        for (let at = 0; at < bytes; at += CHUNK) await handle.read(into, at, Math.min(CHUNK, bytes - at), at);
        await handle.close();
      },
      bytes,
    };
  });
}

function readFileCases(store: Store, depths: readonly number[], bytes: number, label: string): Case[] {
  return depths.map((depth) => {
    const view = viewOf(store, depth);
    return { name: readFileName(depth, bytes, label), setup: async () => void (await view()), run: async () => (await view()).readFile('/data.bin'), bytes };
  });
}

const layers = (depth: number): string => `${depth} layer${depth === 1 ? '' : 's'}`;
const handleName = (depth: number, bytes: number, label: string): string => `read ${sizeName(bytes)} through ${layers(depth)} (1 MiB reads, reused buffer), ${label}`;
const readFileName = (depth: number, bytes: number, label: string): string => `readFile ${sizeName(bytes)} through ${layers(depth)}, ${label}`;

function report(context: ScenarioContext, measured: Map<string, Measured>, depths: readonly number[], readFileDepths: readonly number[], label: string, bytes: number, memory: boolean): void {
  const memcpy = measured.get(limitCase.memcpy)!;
  const fresh = measured.get(FRESH)!;
  const shallowest = Math.min(...depths);
  const deepest = Math.max(...depths);
  const memcpyRef = `memcpy of the same bytes (${(memcpy.throughput! / 2 ** 30).toFixed(2)} GiB/s)`;
  const base = measured.get(handleName(shallowest, bytes, label))!;
  for (const depth of depths) {
    const m = measured.get(handleName(depth, bytes, label))!;
    context.figure({
      name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
      ratio: m.medianMs / base.medianMs, reference: `${layers(shallowest)} (${formatMs(base.medianMs)})`,
      ...(depth === deepest ? { goal: { op: '<=', target: DEPTH_GOAL }, headline: memory } : {}),
    }, m.error);
  }
  const top = measured.get(handleName(deepest, bytes, label))!;
  context.figure({
    name: `${top.name}: bandwidth`, value: top.throughput!, unit: 'B/s', samples: top.samples,
    ratio: top.throughput! / memcpy.throughput!, reference: memcpyRef,
    ...(memory ? { goal: { op: '>=', target: MEMCPY_GOAL }, headline: true } : {}),
  }, top.error);
  const readFileBase = measured.get(readFileName(Math.min(...readFileDepths), bytes, label))!;
  for (const depth of readFileDepths) {
    const m = measured.get(readFileName(depth, bytes, label))!;
    if (depth !== Math.min(...readFileDepths)) {
      context.figure({
        name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
        ratio: m.medianMs / readFileBase.medianMs, reference: `${layers(Math.min(...readFileDepths))} (${formatMs(readFileBase.medianMs)})`,
      }, m.error);
    }
    if (depth !== Math.max(...readFileDepths)) continue;
    context.figure({
      name: `${m.name}: bandwidth`, value: m.throughput!, unit: 'B/s', samples: m.samples,
      ratio: m.throughput! / memcpy.throughput!, reference: memcpyRef,
      ...(memory ? { goal: { op: '>=', target: MEMCPY_GOAL } } : {}),
      note: 'a fresh result buffer per read: its pages fault in',
    }, m.error);
    context.figure({
      name: `${m.name}: against a fresh-buffer copy`, value: m.throughput!, unit: 'B/s', samples: m.samples,
      ratio: m.throughput! / fresh.throughput!, reference: `${FRESH} (${(fresh.throughput! / 2 ** 20).toFixed(0)} MiB/s)`,
      note: 'the floor of any readFile, fs.readFile included',
    }, m.error);
  }
}
