import { BlockIndex } from '../../src/store/disk/BlockIndex.js';
import type { BlockId } from '../../src/core/BlockId.js';
import { fillDistinct } from '../harness/data.js';
import { inChild, type Scenario, type ScenarioContext } from '../harness/scenario.js';

/** Goal: index RAM per stored block. */
const GOAL_BYTES = 64;

export interface IndexMemoryResult {
  readonly entries: number;
  readonly size: number;
  readonly memoryBytes: number;
  /** Growth of heapUsed + external after full collections, with the index held. */
  readonly measuredBytes: number;
  readonly arrayBuffersBytes: number;
  readonly rssBytes: number;
}

/**
 * In a child with `--expose-gc`: a `BlockIndex` given `entries` distinct ids (a data block's
 * location each, as the disk store records them), then held while the process's heap and
 * off-heap memory are measured after full collections.
 */
export function measureIndexMemory(args: { entries: number; seed: number }): IndexMemoryResult {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  // One stream for every id, made before the first measurement: consecutive 32-byte windows of it
  // are distinct, and its bytes are not counted.
  const source = fillDistinct(Buffer.allocUnsafeSlow(32 * args.entries), args.seed);
  const before = settle(gc);
  const index = new BlockIndex();
  for (let i = 0; i < args.entries; i++) {
    const id = source.toString('hex', 32 * i, 32 * i + 32) as BlockId;
    index.set(id, { pack: i >>> 9, offset: 16 + (i & 511) * 65584, length: 65536, kind: 'block' });
  }
  const after = settle(gc);
  // Used after the measurement, so the ids' source is not collected before it (its bytes would
  // then be subtracted from the index's).
  if (source.byteLength !== 32 * args.entries) throw new Error('the id source changed');
  const result: IndexMemoryResult = {
    entries: args.entries,
    size: index.size,
    memoryBytes: index.memoryBytes(),
    measuredBytes: after.heapUsed + after.external - before.heapUsed - before.external,
    arrayBuffersBytes: after.arrayBuffers - before.arrayBuffers,
    rssBytes: after.rss - before.rss,
  };
  if (index.size !== args.entries) throw new Error(`index holds ${index.size} entries, not ${args.entries}`);
  return result;
}

function settle(gc: () => void): NodeJS.MemoryUsage {
  gc();
  gc();
  return process.memoryUsage();
}

/** RAM per stored block of the disk store's index at a million blocks and more. */
export const memory: Scenario = {
  name: 'memory',
  title: 'Memory: block index RAM per stored block',
  async run(context: ScenarioContext): Promise<void> {
    for (const entries of context.settings.indexEntries) {
      let r: IndexMemoryResult;
      try {
        r = await inChild<IndexMemoryResult>('index-memory', { entries, seed: context.settings.seed });
      } catch (error) {
        context.error(`BlockIndex, ${entries.toLocaleString('en')} blocks`, error, { op: '<=', target: 1 });
        continue;
      }
      const label = `BlockIndex, ${entries.toLocaleString('en')} blocks`;
      context.figure({
        name: `${label}: memoryBytes() / size`, value: r.memoryBytes / r.size, unit: 'B/block',
        ratio: r.memoryBytes / r.size / GOAL_BYTES, reference: `the ${GOAL_BYTES} B/block budget`,
        goal: { op: '<=', target: 1 },
      });
      context.figure({
        name: `${label}: measured heap + external growth / size`, value: r.measuredBytes / r.size, unit: 'B/block',
        ratio: r.measuredBytes / r.size / GOAL_BYTES, reference: `the ${GOAL_BYTES} B/block budget`,
        goal: { op: '<=', target: 1 }, headline: entries === Math.min(...context.settings.indexEntries),
        note: `arrayBuffers ${(r.arrayBuffersBytes / r.size).toFixed(1)} B/block, rss ${(r.rssBytes / r.size).toFixed(1)} B/block`,
      });
    }
  },
};
