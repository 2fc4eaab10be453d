import { Bench, type Task } from 'tinybench';
import { seededRandom } from './data.js';

/**
 * The adapter over tinybench: a scenario describes cases, this runs them in interleaved rounds
 * and pools the samples.
 *
 * Why rounds: the machine is shared, and its load changes from second to second. A comparison
 * (1 GiB against 16 MiB, 1000 layers against 1, ingest against the hash limit) runs its cases one
 * after the other in each round, in a seeded random order — A B C, C A B, B C A, … — so a burst of
 * load from another process lands on every case alike instead of on whichever ran during it, and
 * no case always follows the same neighbour. Short operations run many short rounds (150 rounds of
 * 3 writes, not 3 rounds of 150): a burst then spans a few calls of every case, not a whole case. The garbage a case leaves is collected before the next
 * one starts (untimed), so no case pays for another's. Each round is one tinybench `Bench`; the
 * latency samples of all rounds are pooled, and the median and p99 are taken from the pool.
 *
 * Hooks: tinybench runs `beforeAll`/`afterAll` once per phase (warmup, then run) and
 * `beforeEach`/`afterEach` around every call, warmup included, so every hook a case gives must be
 * idempotent or per-call. Only `run` is timed.
 */
export interface Case {
  readonly name: string;
  /** Untimed; before the case's first call of each round and phase. Must be idempotent. */
  readonly setup?: () => Promise<void> | void;
  /** Untimed; before every call. */
  readonly beforeEach?: () => Promise<void> | void;
  /** The timed call. */
  readonly run: () => Promise<unknown>;
  /** Untimed; after every call. */
  readonly afterEach?: () => Promise<void> | void;
  /** Bytes one call processes, for a throughput; omitted for latency-only cases. */
  readonly bytes?: number;
}

export interface Plan {
  /** Interleaved rounds (default 1). */
  readonly rounds?: number;
  /** Minimum calls per case and round (tinybench `iterations`). */
  readonly iterations: number;
  /** Time budget per case and round in ms (tinybench `time`); 0 stops at `iterations`. */
  readonly time?: number;
  /** Untimed warmup calls per case before the first round (0: none). */
  readonly warmup?: number;
  /**
   * When to run a full garbage collection, untimed (needs `--expose-gc`, which run.ts gives
   * itself): before each case's calls in a round (`'case'`, the default), before every call
   * (`'call'`, for cases that leave hundreds of MiB of garbage, so that no call pays for the
   * previous one's), or never (`'none'`, for many short rounds of calls that leave little).
   */
  readonly collect?: 'case' | 'call' | 'none';
  /** Seed of the order of the cases in each round. */
  readonly seed?: number;
}

/** What one case measured, in milliseconds per call; throughputs in bytes per second. */
export interface Measured {
  readonly name: string;
  readonly samples: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** tinybench's relative margin of error of the mean, per round (%). */
  readonly rmeByRound: readonly number[];
  /** tinybench's median latency per round (ms): how much the rounds disagree. */
  readonly medianByRound: readonly number[];
  /** Bytes per second at the median latency (undefined without `bytes`). */
  readonly throughput: number | undefined;
  /** tinybench's median throughput (calls/s) per round. */
  readonly callsPerSecondByRound: readonly number[];
  /** Why the case failed, when it did (its later rounds are skipped; numbers are NaN without samples). */
  readonly error?: string;
}

interface Pool {
  samples: number[];
  rme: number[];
  median: number[];
  cps: number[];
  error?: string;
}

/**
 * Runs every case in `rounds` interleaved rounds; resolves to one `Measured` per case, by name.
 * A case that throws is reported with its error and left out of later rounds; the others go on.
 */
export async function measure(cases: readonly Case[], plan: Plan): Promise<Map<string, Measured>> {
  const rounds = plan.rounds ?? 1;
  const random = seededRandom(plan.seed ?? 0x5eed);
  const pooled = new Map<string, Pool>();
  for (const c of cases) pooled.set(c.name, { samples: [], rme: [], median: [], cps: [] });
  for (let round = 0; round < rounds; round++) {
    const warmup = round === 0 && (plan.warmup ?? 0) > 0;
    const bench = new Bench({
      name: `round ${round + 1}`,
      iterations: plan.iterations,
      time: plan.time ?? 0,
      warmup,
      warmupIterations: plan.warmup ?? 0,
      warmupTime: 0,
      retainSamples: true,
      throws: false,
    });
    for (const c of shuffle(cases, random)) {
      if (pooled.get(c.name)!.error !== undefined) continue;
      bench.add(c.name, c.run, {
        async: true,
        beforeAll: async () => {
          await c.setup?.();
          if (plan.collect !== 'none') collectGarbage();
        },
        beforeEach: async () => {
          await c.beforeEach?.();
          if (plan.collect === 'call') collectGarbage();
        },
        ...(c.afterEach === undefined ? {} : { afterEach: async () => void (await c.afterEach!()) }),
      });
    }
    await bench.run();
    for (const task of bench.tasks) collect(task, pooled.get(task.name)!);
  }
  const out = new Map<string, Measured>();
  for (const c of cases) {
    const pool = pooled.get(c.name)!;
    const sorted = pool.samples.sort((a, b) => a - b);
    const medianMs = quantile(sorted, 0.5);
    if (pool.error !== undefined) process.stderr.write(`  case '${c.name}' failed: ${pool.error}\n`);
    out.set(c.name, {
      name: c.name,
      samples: sorted.length,
      medianMs,
      p99Ms: quantile(sorted, 0.99),
      meanMs: sorted.length === 0 ? Number.NaN : sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
      minMs: sorted[0] ?? Number.NaN,
      maxMs: sorted[sorted.length - 1] ?? Number.NaN,
      rmeByRound: pool.rme,
      medianByRound: pool.median,
      throughput: c.bytes === undefined ? undefined : c.bytes / (medianMs / 1000),
      callsPerSecondByRound: pool.cps,
      ...(pool.error === undefined ? {} : { error: pool.error }),
    });
  }
  return out;
}

/** `cases` in a random order drawn from `random` (Fisher–Yates). */
function shuffle<T>(cases: readonly T[], random: () => number): T[] {
  const out = [...cases];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A full collection, when the process has `--expose-gc` (run.ts makes sure it does). */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function collect(task: Task, into: Pool): void {
  const result = task.result;
  if (result.state === 'errored') {
    const error = result.error as Error & { code?: string };
    into.error = `${error.code ?? error.name}: ${error.message}`;
    return;
  }
  if (result.state !== 'completed' && result.state !== 'aborted-with-statistics') {
    into.error = `did not complete (${result.state})`;
    return;
  }
  into.samples.push(...(result.latency.samples ?? []));
  into.rme.push(result.latency.rme);
  into.median.push(result.latency.p50);
  into.cps.push(result.throughput.p50);
}

/** The q-quantile of sorted samples, linearly interpolated. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}
