import { alignedOffset, distinctData, fillDistinct, seededRandom } from '../harness/data.js';
import { formatBytes } from '../harness/figures.js';
import { inChild, type Scenario, type ScenarioContext } from '../harness/scenario.js';
import { Scratch } from '../harness/scratch.js';
import { sizeName } from '../harness/settings.js';
import { commitFile, packStats, StoreUnderTest, type StoreKind } from '../harness/stores.js';

export interface DedupArgs {
  readonly kind: StoreKind;
  readonly imageBytes: number;
  readonly containers: number;
  readonly writeBytes: number;
  readonly seed: number;
  readonly tmp: string;
}

export interface DedupResult {
  readonly blockSize: number;
  /** `stats().storedBytes` after the image, and after the containers wrote. */
  readonly storedImage: number;
  readonly storedAll: number;
  /** Growth of heapUsed + external (gc'd) over the image, and over the containers, minus block bytes kept in memory. */
  readonly metadataImage: number;
  readonly metadataContainers: number;
  /** Disk: the packs' tree-node bytes after the image, and after the containers. */
  readonly nodeBytesImage?: number;
  readonly nodeBytesAll?: number;
  readonly packBytesAll?: number;
}

/**
 * In a child with `--expose-gc`: one image of `imageBytes` (one file), then `containers` active
 * containers on it, each overwriting `writeBytes` of the file at a seeded 1 MiB-aligned offset.
 * Process memory is measured after full collections, with the source data allocated before the
 * first measurement so it is not counted. Every container writes bytes of its own, so the only
 * sharing is the image's.
 */
export async function measureDedup(args: DedupArgs): Promise<DedupResult> {
  const gc = collector();
  const data = distinctData(args.imageBytes, args.seed);
  const write = Buffer.from(distinctData(args.writeBytes, args.seed + 1));
  const random = seededRandom(args.seed + 2);
  const scratch = new Scratch(args.tmp);
  try {
    const m0 = memory(gc);
    const target = await StoreUnderTest.open(args.kind, {}, scratch);
    await commitFile(target.store, 'image', undefined, '/data.bin', data);
    const storedImage = (await target.store.stats()).storedBytes;
    let nodeBytesImage: number | undefined;
    if (target.dir !== undefined) nodeBytesImage = (await target.whileClosed(packStats, {})).nodeBytes;
    const m1 = memory(gc);
    const layers = [];
    for (let i = 0; i < args.containers; i++) {
      const layer = await target.store.prepare(`c${i}`, 'image');
      const handle = await layer.open('/data.bin', 'r+');
      fillDistinct(write, args.seed + 1000 + i);
      await handle.write(write, 0, write.byteLength, alignedOffset(random, args.imageBytes, args.writeBytes, args.writeBytes));
      await handle.close();
      layers.push(layer);
    }
    await layers[0]?.sync();
    const storedAll = (await target.store.stats()).storedBytes;
    const m2 = memory(gc);
    const blockSize = target.store.blockSize;
    const resident = args.kind === 'memory';
    const result: DedupResult = {
      blockSize, storedImage, storedAll,
      metadataImage: m1 - m0 - (resident ? storedImage : 0),
      metadataContainers: m2 - m1 - (resident ? storedAll - storedImage : 0),
      ...(nodeBytesImage === undefined ? {} : { nodeBytesImage }),
    };
    if (target.dir === undefined) {
      await target.close();
      return result;
    }
    await target.closeOnly();
    const after = await packStats(target.dir);
    return { ...result, nodeBytesAll: after.nodeBytes, packBytesAll: after.packBytes };
  } finally {
    scratch.cleanup();
  }
}

function collector(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  return gc;
}

/** Heap plus memory outside it (Buffers), after two full collections. */
function memory(gc: () => void): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/**
 * 100 containers on one 1 GiB image, each writing 1 MiB: what is stored, and what the metadata
 * costs, against the logical bytes (the image's file seen by the image and by every container).
 */
export const dedup: Scenario = {
  name: 'dedup',
  title: 'Dedup: 100 containers on one 1 GiB image, 1 MiB each',
  async run(context: ScenarioContext): Promise<void> {
    const { settings } = context;
    for (const kind of ['memory', 'disk'] as const) {
      const args: DedupArgs = {
        kind, imageBytes: settings.dedupImageBytes, containers: settings.dedupContainers,
        writeBytes: settings.dedupWriteBytes, seed: settings.seed, tmp: settings.tmp,
      };
      let r: DedupResult;
      try {
        r = await inChild<DedupResult>('dedup', args);
      } catch (error) {
        context.error(`dedup, ${kind} store`, error);
        continue;
      }
      const logical = args.imageBytes * (1 + args.containers);
      const ideal = args.imageBytes + args.containers * args.writeBytes;
      const label = `${args.containers} containers × ${sizeName(args.writeBytes)} on a ${sizeName(args.imageBytes)} image, ${kind}`;
      context.figure({
        name: `stored bytes, ${label}`, value: r.storedAll, unit: 'B',
        ratio: r.storedAll / logical, reference: `logical bytes (${formatBytes(logical)})`,
        note: `image + written = ${formatBytes(ideal)}: ${(r.storedAll / ideal).toFixed(4)}× of it; overlayfs would copy up ${formatBytes(args.imageBytes * args.containers)}`,
        headline: kind === 'memory',
      });
      context.figure({
        name: `metadata in process memory, image, ${kind}`, value: r.metadataImage, unit: 'B',
        ratio: r.metadataImage / args.imageBytes, reference: `the image's logical bytes (${formatBytes(args.imageBytes)})`,
        note: `${(r.metadataImage / (r.storedImage / r.blockSize)).toFixed(0)} B per stored block`,
      });
      context.figure({
        name: `metadata in process memory, ${args.containers} containers, ${kind}`, value: r.metadataContainers, unit: 'B',
        ratio: r.metadataContainers / (logical - args.imageBytes), reference: `the containers' logical bytes (${formatBytes(logical - args.imageBytes)})`,
        note: `${formatBytes(r.metadataContainers / args.containers)} per container`,
      });
      if (r.nodeBytesAll !== undefined && r.nodeBytesImage !== undefined) {
        context.figure({
          name: `tree-node bytes in packs, image + ${args.containers} containers, disk`, value: r.nodeBytesAll, unit: 'B',
          ratio: r.nodeBytesAll / logical, reference: `logical bytes (${formatBytes(logical)})`,
          note: `image ${formatBytes(r.nodeBytesImage)}, ${formatBytes((r.nodeBytesAll - r.nodeBytesImage) / args.containers)} per container; packs ${formatBytes(r.packBytesAll ?? Number.NaN)}`,
        });
      }
    }
  },
};
