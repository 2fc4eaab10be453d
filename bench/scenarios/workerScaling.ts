import { availableParallelism } from 'node:os';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { DEFAULT_BLOCK_SIZE } from '../../src/index.js';
import { distinctData } from '../harness/data.js';
import { formatMs } from '../harness/figures.js';
import { hashBlocks } from '../harness/limits.js';
import { measure, type Case, type Measured } from '../harness/measure.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { MiB, sizeName } from '../harness/settings.js';
import { commitFile, StoreUnderTest } from '../harness/stores.js';
import { warmUp } from './ingest.js';
import { limitCase, startPool } from './limits.js';

/** Goals: every core at least this many times faster than `workers: 0`; event-loop delay p99 under this (ms) with workers. */
const SPEEDUP_GOAL = 1.6;
const DELAY_GOAL_MS = 20;

/**
 * Ingest (as the ingest scenario, into a memory store so disk does not blur it) with `workers`
 * 0, 1 and one per core, interleaved with SHA-256 of as many bytes on one thread and on every
 * core (the machine's own speedup, the ceiling of the engine's); the event loop's delay is sampled
 * (`DelaySampler`, 1 ms resolution) only while an ingest runs, over every
 * iteration of a configuration (sampling starts 5 ms before an ingest and stops 2 ms after it,
 * untimed; the idle ticks add a handful of near-zero samples).
 */
export const workerScaling: Scenario = {
  name: 'worker-scaling',
  title: 'Worker scaling: ingest with workers 0, 1, every core',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    const bytes = settings.workerIngestBytes;
    const data = distinctData(bytes, settings.seed);
    const configs = [...new Set([0, 1, availableParallelism()])];
    for (const workers of configs) await warmUp(context, { workers }, ['memory']);
    const histograms = new Map<number, RecordableHistogram>();
    const cases: Case[] = configs.map((workers) => {
      const sampler = new DelaySampler();
      histograms.set(workers, sampler.all);
      let target: StoreUnderTest | undefined;
      return {
        name: caseName(workers, bytes),
        beforeEach: async () => {
          target = await StoreUnderTest.open('memory', { workers }, context.scratch, true);
          // The histogram records a delay from its second timer tick on: let it tick first.
          sampler.start();
          await sleep(5);
        },
        run: () => commitFile(target!.store, 'image', undefined, '/data.bin', data),
        afterEach: async () => {
          // One more turn of the loop, so a delay the ingest's last stretch caused is recorded.
          await sleep(2);
          sampler.stop();
          await target!.close();
          target = undefined;
        },
        bytes,
      };
    });
    // The peer of the delay figures: the same loop with nothing to do, sampled as long, in the
    // same rounds — the delay the machine's other load causes by itself.
    const idleSampler = new DelaySampler();
    const idle = idleSampler.all;
    cases.push({
      name: IDLE,
      beforeEach: () => idleSampler.start(),
      run: () => sleep(settings.quick ? 200 : 1000),
      afterEach: () => idleSampler.stop(),
    });
    // The machine's own parallel speedup, in the same rounds: SHA-256 of as many bytes on one
    // thread and on every core. Ingest with workers cannot scale further than hashing does.
    const pool = await startPool(32 * MiB, settings.seed + 1);
    const passes = Math.max(1, Math.round(bytes / pool.bytes()));
    cases.push(
      { name: limitCase.hash1(DEFAULT_BLOCK_SIZE), run: async () => hashBlocks(data, DEFAULT_BLOCK_SIZE), bytes },
      { name: limitCase.hashAll(DEFAULT_BLOCK_SIZE), run: () => pool.run(DEFAULT_BLOCK_SIZE, passes), bytes: pool.bytes(passes) },
    );
    let measured: Map<string, Measured>;
    try {
      measured = context.keep(await measure(cases, { seed: settings.seed, rounds: settings.rounds, iterations: 1 }));
    } finally {
      await pool.close();
    }
    const one = measured.get(limitCase.hash1(DEFAULT_BLOCK_SIZE))!;
    const all = measured.get(limitCase.hashAll(DEFAULT_BLOCK_SIZE))!;
    const ceiling = all.throughput! / one.throughput!;
    context.figure({
      name: `SHA-256 speedup of ${availableParallelism()} threads over 1, ${sizeName(DEFAULT_BLOCK_SIZE)} blocks`, value: all.throughput!, unit: 'B/s', samples: all.samples,
      ratio: ceiling, reference: `1 thread (${(one.throughput! / 2 ** 20).toFixed(0)} MiB/s); ideal ${availableParallelism()}×`,
      note: 'the ceiling of any hashing speedup on this machine while this ran',
    });
    const idleP99 = idle.percentile(99) / 1e6;
    context.figure({
      name: IDLE, value: idleP99, unit: 'ms', p99: idleP99, samples: idle.count,
      ratio: idleP99 / DELAY_GOAL_MS, reference: `the ${DELAY_GOAL_MS} ms budget`,
      note: `p99 of the loop's delay while it only sleeps: the floor the machine's load sets; median ${formatMs(idle.percentile(50) / 1e6)}, max ${formatMs(idle.max / 1e6)}`,
    });
    const inline = measured.get(caseName(0, bytes))!;
    for (const workers of configs) {
      const m = measured.get(caseName(workers, bytes))!;
      const every = workers === availableParallelism() && workers > 1;
      context.figure({
        name: m.name, value: m.throughput!, unit: 'B/s', samples: m.samples,
        ratio: m.throughput! / inline.throughput!, reference: `workers 0 (${(inline.throughput! / 2 ** 20).toFixed(0)} MiB/s)`,
        ...(every ? { goal: { op: '>=', target: SPEEDUP_GOAL }, headline: true, note: `${(m.throughput! / inline.throughput! / ceiling).toFixed(2)} of the machine's SHA-256 speedup (${ceiling.toFixed(2)}×)` } : {}),
      }, m.error);
    }
    for (const workers of configs) {
      const histogram = histograms.get(workers)!;
      const p99 = histogram.percentile(99) / 1e6;
      context.figure({
        name: `event-loop delay p99 during ingest, workers ${workers}`, value: p99, unit: 'ms',
        p99, samples: histogram.count,
        ratio: p99 / DELAY_GOAL_MS, reference: `the ${DELAY_GOAL_MS} ms budget`,
        note: `${(p99 / idleP99).toFixed(1)}× the idle loop's p99; median ${formatMs(histogram.percentile(50) / 1e6)}, max ${formatMs(histogram.max / 1e6)}`,
        ...(workers > 0 ? { goal: { op: '<=', target: 1 }, headline: workers === availableParallelism() } : {}),
      });
    }
  },
};

const IDLE = 'event-loop delay p99, idle loop (peer)';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function caseName(workers: number, bytes: number): string {
  return `ingest ${sizeName(bytes)}, memory store, workers ${workers}`;
}

/**
 * The event loop's delay over many separate stretches, as `monitorEventLoopDelay` measures it (a
 * 1 ms timer; each tick records how late it fired), into one histogram `all`, sampled only between
 * `start` and `stop`. Not `monitorEventLoopDelay` itself: disabled and enabled again, it records the
 * whole pause between two stretches as one delay (a 1 s pause as ~1010 ms), which put p99 on the
 * pauses whenever a case had few samples; and its histograms cannot be merged.
 */
class DelaySampler {
  readonly all: RecordableHistogram = createHistogram();
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;

  start(): void {
    this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.all.record(Math.max(1, Math.round((now - this.#last - TICK_MS) * 1e6)));
      this.#last = now;
    }, TICK_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

const TICK_MS = 1;
