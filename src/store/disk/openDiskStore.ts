import { resolve } from 'node:path';
import { fsError } from '../../core/errors.js';
import type { Hasher } from '../../hashing/Hasher.js';
import type { SourceFactory } from '../BlockSource.js';
import { FetchingBlockStore } from '../FetchingBlockStore.js';
import { SnapshotStore } from '../../snapshots/SnapshotStore.js';
import type { Store } from '../../snapshots/Store.js';
import { DiskBlockStore } from './DiskBlockStore.js';
import { DiskCatalog, ensureCatalog, writeEmptyCatalog } from './DiskCatalog.js';
import type { FileSystem } from './FileSystem.js';
import { NodeFileSystem } from './NodeFileSystem.js';
import { PackStore } from './PackStore.js';
import { STORE_VERSION, readConfig, writeConfig } from './StoreConfig.js';
import { SourceCatalog } from './SourceCatalog.js';
import { StoreLock } from './StoreLock.js';
import { TreeCodec } from './TreeCodec.js';

export interface DiskStoreOptions {
  readonly dir: string;
  /** Asked for by the caller; undefined to take the store's own (or the default for a new store). */
  readonly blockSize: number | undefined;
  readonly defaultBlockSize: number;
  readonly hasher: Hasher;
  readonly verifyReads: boolean;
  readonly readOnly: boolean;
  /** Makes the block sources saved in the store again (lazily pulled snapshots fetch from them). */
  readonly sourceFactory: SourceFactory;
  /** The file layer; tests swap in one that injects faults. */
  readonly fileSystem?: FileSystem;
  /** Pack size target; tests use small packs to exercise compaction. */
  readonly packTarget?: number;
}

/**
 * Opens (creating when missing and writable) the durable store in `dir`: takes the writer lock,
 * reads the config (a new store gets its config, then an empty catalog), refuses a store whose
 * catalog is lost (`EINTEGRITY`, nothing changed: see `ensureCatalog`; `recoverDiskStore` repairs
 * it), opens the packs (recovering a torn tail, catching the index up), loads the
 * catalog and its trees, and makes its block sources again (a record the factory refuses is left
 * out: the blocks it would fetch are then missing, as `check` reports). Nothing is left locked or open when it rejects.
 */
export async function openDiskStore(options: DiskStoreOptions): Promise<Store> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  const dir = resolve(options.dir);
  if (options.readOnly) {
    if (!(await fs.exists(dir))) throw fsError('ENOENT', { syscall: 'open', path: options.dir, detail: 'no store directory to open read-only' });
  } else {
    await fs.mkdir(dir);
  }
  const lock = options.readOnly ? undefined : await StoreLock.acquire(dir);
  try {
    let config = await readConfig(fs, dir);
    if (config === undefined) {
      if (options.readOnly) throw fsError('ENOENT', { syscall: 'open', path: options.dir, detail: 'not a cowstack store (no config)' });
      config = { version: STORE_VERSION, blockSize: options.blockSize ?? options.defaultBlockSize };
      await writeConfig(fs, dir, config);
      // From now on a store with tree nodes always has a catalog: a missing one is a loss (DiskCatalog).
      await writeEmptyCatalog(fs, dir);
    } else if (options.blockSize !== undefined && options.blockSize !== config.blockSize) {
      throw fsError('EINVAL', { syscall: 'open', path: options.dir, detail: `the store has blockSize ${config.blockSize}, not ${options.blockSize}` });
    }
    await ensureCatalog(fs, dir, options.readOnly);
    const packs = await PackStore.open({ fs, dir, readOnly: options.readOnly, ...(options.packTarget === undefined ? {} : { packTarget: options.packTarget }) });
    try {
      const catalog = new DiskCatalog(fs, dir, packs, new TreeCodec());
      const entries = await catalog.load();
      const sourceCatalog = new SourceCatalog(fs, dir, packs);
      const sources = (await sourceCatalog.load(options.readOnly)).flatMap((record) => {
        try {
          return [options.sourceFactory(record)];
        } catch {
          return [];
        }
      });
      const disk = new DiskBlockStore(config.blockSize, packs, options.hasher, options.verifyReads);
      return new SnapshotStore(new FetchingBlockStore(disk, options.hasher, sourceCatalog, sources), options.hasher, {
        dir,
        readOnly: options.readOnly,
        persistence: catalog,
        entries,
        onClose: async () => lock?.release(),
      });
    } catch (error) {
      await packs.abandon();
      throw error;
    }
  } catch (error) {
    await lock?.release();
    throw error;
  }
}
