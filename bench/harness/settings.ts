import { tmpdir } from 'node:os';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/**
 * Every knob of the suite, read once from the environment:
 *
 * - `COWSTACK_BENCH_QUICK=1`: a smoke run (small sizes, one round) that finishes in under a minute;
 * - `COWSTACK_BENCH_FILTER=<substring>`: run only the scenarios whose name contains it;
 * - `COWSTACK_BENCH_SEED=<integer>`: the seed of every generator (default 0x5eed);
 * - `COWSTACK_BENCH_TMP=<dir>`: where disk stores and overlayfs directories go (default the OS temp dir).
 *
 * Sizes are the brief's in a full run; a quick run scales them down and says so in the results.
 */
export interface Settings {
  readonly quick: boolean;
  readonly filter: string | undefined;
  readonly seed: number;
  readonly tmp: string;
  /** Interleaved rounds of every comparison; samples of all rounds are pooled. */
  readonly rounds: number;
  /** Bytes ingested by the ingest scenario (1 GiB). */
  readonly ingestBytes: number;
  /** Lower-file sizes of the small-write scenario (16 MiB, 256 MiB, 1 GiB). */
  readonly smallWriteSizes: readonly number[];
  /** Timed steady-state 4 KiB writes per store and size. */
  readonly smallWrites: number;
  /** Overlayfs mounts (first writes) per size. */
  readonly overlayMounts: number;
  /** The file read through deep stacks (256 MiB), and the stack depths. */
  readonly deepFileBytes: number;
  readonly deepDepths: readonly number[];
  /** Depths read on disk, where a read of the file is slow. */
  readonly deepDiskDepths: readonly number[];
  /** Tree sizes of the commit-cost scenario (1,000 and 100,000 files), and timed commits per tree. */
  readonly commitTrees: readonly number[];
  readonly commits: number;
  /** Bytes ingested per iteration of the worker-scaling scenario. */
  readonly workerIngestBytes: number;
  /** The dedup scenario: image size, containers, bytes each writes. */
  readonly dedupImageBytes: number;
  readonly dedupContainers: number;
  readonly dedupWriteBytes: number;
  /** Block sizes swept, and the file they are measured on. */
  readonly blockSizes: readonly number[];
  readonly blockSweepBytes: number;
  /** Entries put in the block index by the memory scenario (at least 2^20 in a full run). */
  readonly indexEntries: readonly number[];
  /** Bytes of the buffers the memcpy and single-thread hash limits run over. */
  readonly limitBytes: number;
  /** Bytes of the untimed ingest that warms the engine's code before a scenario times it. */
  readonly warmBytes: number;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const quick = env['COWSTACK_BENCH_QUICK'] === '1' || env['COWSTACK_BENCH_QUICK'] === 'true';
  const filter = env['COWSTACK_BENCH_FILTER']?.trim() || undefined;
  const seed = env['COWSTACK_BENCH_SEED'] === undefined ? 0x5eed : Number.parseInt(env['COWSTACK_BENCH_SEED'], 10);
  if (!Number.isSafeInteger(seed)) throw new TypeError(`COWSTACK_BENCH_SEED must be an integer, not ${env['COWSTACK_BENCH_SEED']}`);
  const tmp = env['COWSTACK_BENCH_TMP'] ?? tmpdir();
  const blockSizes = [4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB];
  if (quick) {
    return {
      quick, filter, seed, tmp,
      rounds: 1,
      ingestBytes: 32 * MiB,
      smallWriteSizes: [2 * MiB, 8 * MiB, 32 * MiB],
      smallWrites: 32,
      overlayMounts: 1,
      deepFileBytes: 8 * MiB,
      deepDepths: [1, 10],
      deepDiskDepths: [1, 10],
      commitTrees: [1000, 10_000],
      commits: 8,
      workerIngestBytes: 32 * MiB,
      dedupImageBytes: 32 * MiB,
      dedupContainers: 10,
      dedupWriteBytes: MiB,
      blockSizes: [4 * KiB, 64 * KiB, MiB],
      blockSweepBytes: 8 * MiB,
      indexEntries: [1 << 18],
      limitBytes: 16 * MiB,
      warmBytes: 4 * MiB,
    };
  }
  return {
    quick, filter, seed, tmp,
    rounds: 3,
    ingestBytes: GiB,
    smallWriteSizes: [16 * MiB, 256 * MiB, GiB],
    smallWrites: 450,
    overlayMounts: 2,
    deepFileBytes: 256 * MiB,
    deepDepths: [1, 10, 100, 1000],
    deepDiskDepths: [1, 1000],
    commitTrees: [1000, 100_000],
    commits: 60,
    workerIngestBytes: 256 * MiB,
    dedupImageBytes: GiB,
    dedupContainers: 100,
    dedupWriteBytes: MiB,
    blockSizes,
    blockSweepBytes: 256 * MiB,
    indexEntries: [1 << 20, 1 << 22],
    limitBytes: 64 * MiB,
    warmBytes: 16 * MiB,
  };
}

/** `n` bytes as a short binary size: `64 KiB`, `1 GiB`. */
export function sizeName(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

export { KiB, MiB, GiB };
