import type { SnapshotKind, Store, StoreStats } from '../../index.js';
import type { Command } from '../Command.js';
import { formatBytes, formatCount, formatTable } from '../format.js';
import { surveyFiles } from '../survey.js';

/** One snapshot's figures in `df -v`. */
export interface SnapshotUsage {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  /** Regular files in the snapshot and their logical bytes. */
  files: number;
  logicalBytes: number;
  /** Bytes of the files it added or changed against its parent, whole: its layer as overlay2 keeps it. */
  layerBytes: number;
  /** `usage(key)`: bytes and count of the blocks it adds to its parent, entries changed. */
  size: number;
  blocks: number;
  inodes: number;
}

/**
 * What `df --json` prints: the store's `stats()` and where its bytes went, as a waterfall from
 * what full copies would take to what is stored.
 */
export interface DiskUsage extends StoreStats {
  /** Σ every snapshot's logical bytes: full copies of each. */
  logicalBytes: number;
  /** Σ layer bytes: layers of whole files, as overlay2 or OCI layers keep them. */
  layerBytes: number;
  /** Σ `usage(key).size`: block-level copy-on-write layers, each against its parent. */
  copyOnWriteBytes: number;
  savedByLayerSharing: number;
  savedByCopyOnWrite: number;
  /** `copyOnWriteBytes − storedBytes`: blocks shared between snapshots that are not parent and child, and zero blocks; garbage awaiting `gc` counts against it. */
  savedByDedup: number;
  /** With `-v`. */
  perSnapshot?: SnapshotUsage[];
}

/** Every figure of `df`, read from the store. */
async function diskUsage(store: Store, signal?: AbortSignal): Promise<Required<DiskUsage>> {
  const stats = await store.stats();
  const perSnapshot: SnapshotUsage[] = [];
  for await (const info of store.walk()) {
    const full = await surveyFiles(store, info.key, null, signal);
    const own = await surveyFiles(store, info.key, undefined, signal);
    const usage = await store.usage(info.key);
    perSnapshot.push({
      key: info.key, kind: info.kind, ...(info.parent === undefined ? {} : { parent: info.parent }),
      files: full.files, logicalBytes: full.bytes, layerBytes: own.bytes, ...usage,
    });
  }
  const sum = (pick: (item: SnapshotUsage) => number): number => perSnapshot.reduce((total, item) => total + pick(item), 0);
  const logicalBytes = sum((item) => item.logicalBytes);
  const layerBytes = sum((item) => item.layerBytes);
  const copyOnWriteBytes = sum((item) => item.size);
  return {
    ...stats, logicalBytes, layerBytes, copyOnWriteBytes,
    savedByLayerSharing: logicalBytes - layerBytes,
    savedByCopyOnWrite: layerBytes - copyOnWriteBytes,
    savedByDedup: copyOnWriteBytes - stats.storedBytes,
    perSnapshot,
  };
}

export const df: Command = {
  name: 'df',
  operands: '',
  arity: [0, 0],
  summary: 'show where the store\'s bytes go, and what sharing saved',
  description:
    'Like `docker system df`: the logical bytes of every snapshot, what layers of whole files would hold (as overlay2\n' +
    'does), what block-level copy-on-write layers hold, and what is stored once deduplicated, with the savings of\n' +
    'each step. With -v, the same per snapshot.',
  examples: ['cowstack df', 'cowstack df -v --json'],
  options: {
    verbose: { type: 'boolean', short: 'v', description: 'add a row per snapshot' },
    json: { type: 'boolean', description: 'print a DiskUsage object (store stats and the figures below)' },
  },
  access: 'read',
  bulk: false,
  async run({ store, out, signal }, { options }) {
    const { perSnapshot, ...usage } = await diskUsage(store, signal);
    const verbose = options.verbose === true;
    if (options.json === true) {
      await out.json(verbose ? { ...usage, perSnapshot } : usage);
      return;
    }
    const kinds = (['committed', 'active', 'view'] as const).map((kind) => `${perSnapshot.filter((item) => item.kind === kind).length} ${kind}`);
    await out.line(`snapshots: ${formatCount(usage.snapshots)} (${kinds.join(', ')})`);
    await out.line(`blocks:    ${formatCount(usage.blocks)} stored, up to ${formatBytes(usage.blockSize)} each`);
    await out.line();
    const row = (name: string, bytes: number, meaning: string): string[] => [name, formatBytes(bytes), formatCount(bytes), meaning];
    const lines = formatTable(
      [{ header: '' }, { header: 'SIZE', align: 'right' }, { header: 'BYTES', align: 'right' }, { header: '' }],
      [
        row('logical', usage.logicalBytes, 'every snapshot\'s files, each snapshot counted whole'),
        row('whole-file layers', usage.layerBytes, 'files each snapshot added or changed, copied whole (as overlay2)'),
        row('block-level layers', usage.copyOnWriteBytes, 'blocks each snapshot added to its parent (as cowstack)'),
        row('stored', usage.storedBytes, 'distinct blocks, each stored once'),
        row('saved by layer sharing', usage.savedByLayerSharing, 'logical - whole-file layers'),
        row('saved by block-level CoW', usage.savedByCopyOnWrite, 'whole-file layers - block-level layers (unchanged blocks, zeros, repeats)'),
        row('saved by dedup', usage.savedByDedup, 'block-level layers - stored (shared blocks; garbage until gc counts against it)'),
      ],
    );
    for (const line of lines) await out.line(line);
    if (!verbose) return;
    await out.line();
    const columns = [
      { header: 'KEY' }, { header: 'KIND' }, { header: 'FILES', align: 'right' as const }, { header: 'LOGICAL', align: 'right' as const },
      { header: 'WHOLE-FILE LAYER', align: 'right' as const }, { header: 'BLOCK-LEVEL LAYER', align: 'right' as const },
      { header: 'BLOCKS', align: 'right' as const }, { header: 'INODES', align: 'right' as const },
    ];
    const rows = perSnapshot.map((item) => [
      item.key, item.kind, formatCount(item.files), formatBytes(item.logicalBytes), formatBytes(item.layerBytes), formatBytes(item.size),
      formatCount(item.blocks), formatCount(item.inodes),
    ]);
    for (const line of formatTable(columns, rows)) await out.line(line);
  },
};
