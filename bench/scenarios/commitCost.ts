import type { Layer, Store } from '../../src/index.js';
import { distinctData } from '../harness/data.js';
import { formatMs } from '../harness/figures.js';
import { measure, type Case } from '../harness/measure.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { KiB, MiB } from '../harness/settings.js';
import { StoreUnderTest, type StoreKind } from '../harness/stores.js';

/** Goal: a commit in the large tree within this factor of one in the small tree. */
const GOAL = 2;
const DIRS = 100;
const BIG = MiB;

/**
 * `commit` after changing one block, in trees of 1,000 and 100,000 files. Untimed before each
 * commit: a container on the image, and a 4 KiB write into one block of a 1 MiB file in it; timed:
 * `commit`; untimed after: `remove` of the committed snapshot, so the catalog keeps its size.
 * The files are spread over 100 directories and all hold the same 64 bytes (their content does
 * not matter to a commit, and the tree builds without storing 100,000 blocks).
 */
export const commitCost: Scenario = {
  name: 'commit-cost',
  title: 'Commit after changing one block, 1,000 vs 100,000 files',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const trees = settings.commitTrees;
    const targets: StoreUnderTest[] = [];
    try {
      const cases: Case[] = [];
      for (const kind of ['memory', 'disk'] as const) {
        for (const files of trees) {
          const target = await StoreUnderTest.open(kind, { workers: 0 }, context.scratch);
          targets.push(target);
          await buildTree(target.store, files, settings.seed);
          cases.push(commitCase(target.store, kind, files));
        }
      }
      const measured = context.keep(await measure(cases, { seed: settings.seed, rounds: Math.ceil(settings.commits / 3), iterations: 3, warmup: 2, collect: 'none' }));
      for (const kind of ['memory', 'disk'] as StoreKind[]) {
        const small = measured.get(caseName(kind, Math.min(...trees)))!;
        for (const files of trees) {
          const m = measured.get(caseName(kind, files))!;
          const largest = files === Math.max(...trees);
          context.figure({
            name: m.name, value: m.medianMs, unit: 'ms', p99: m.p99Ms, samples: m.samples,
            ratio: m.medianMs / small.medianMs, reference: `${Math.min(...trees).toLocaleString('en')} files (${formatMs(small.medianMs)})`,
            ...(largest ? { goal: { op: '<=', target: GOAL }, headline: true } : {}),
          }, m.error);
        }
      }
    } finally {
      for (const target of targets) await target.close();
    }
  },
};

function caseName(kind: StoreKind, files: number): string {
  return `commit after a 1-block change, ${files.toLocaleString('en')} files, ${kind}`;
}

async function buildTree(store: Store, files: number, seed: number): Promise<void> {
  const layer = await store.prepare('image.work');
  for (let d = 0; d < DIRS; d++) await layer.mkdir(`/d${d}`);
  const content = Buffer.alloc(64, 'x');
  for (let i = 0; i < files; i++) await layer.writeFile(`/d${i % DIRS}/f${i}`, content);
  await layer.writeFile('/big.bin', distinctData(BIG, seed));
  await store.commit('image', 'image.work');
}

function commitCase(store: Store, kind: StoreKind, files: number): Case {
  const buffer = Buffer.alloc(4 * KiB);
  let n = 0;
  let layer: Layer | undefined;
  return {
    name: caseName(kind, files),
    beforeEach: async () => {
      n++;
      layer = await store.prepare(`c${n}`, 'image');
      const handle = await layer.open('/big.bin', 'r+');
      buffer.writeUInt32LE(n, 0);
      await handle.write(buffer, 0, buffer.byteLength, (n * store.blockSize) % BIG);
      await handle.close();
    },
    run: () => store.commit(`k${n}`, `c${n}`),
    afterEach: () => store.remove(`k${n}`),
  };
}
