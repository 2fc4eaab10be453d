import { join, resolve } from 'node:path';
import { shortBlockId, type BlockId } from '../../core/BlockId.js';
import { fsError } from '../../core/errors.js';
import type { Tree } from '../../core/Tree.js';
import type { CatalogEntry } from '../../snapshots/SnapshotPersistence.js';
import { CATALOG_FILE, DiskCatalog, catalogFileState, findTrees } from './DiskCatalog.js';
import type { FileSystem } from './FileSystem.js';
import { NodeFileSystem } from './NodeFileSystem.js';
import { PackStore } from './PackStore.js';
import { setAside } from './setAside.js';
import { readConfig } from './StoreConfig.js';
import { StoreLock } from './StoreLock.js';
import { TreeCodec } from './TreeCodec.js';

/** The label every recovered snapshot carries: the full id of the tree it was recovered from. */
export const RECOVERED_TREE_LABEL = 'cowstack.recovered.tree';

export interface RecoverOptions {
  readonly dir: string;
  /** The file layer; tests swap in one that injects faults. */
  readonly fileSystem?: FileSystem;
  /** Pack size target (only matters when opening cuts a torn tail and starts a pack). */
  readonly packTarget?: number;
}

/** What `recoverDiskStore` found and wrote; the CLI prints it (`cowstack recover --json`). */
export interface CatalogRecovery {
  /** What was wrong with the catalog. */
  readonly catalog: 'missing' | 'damaged';
  /** The name the damaged catalog was kept under (`catalog.damaged`), in the store directory. */
  readonly keptAs: string | undefined;
  /** The snapshots the new catalog names, in the order their trees lie in the packs. */
  readonly recovered: readonly { readonly key: string; readonly tree: BlockId }[];
  /** Trees found that did not decode (a node missing or damaged): left out, their records kept. */
  readonly skipped: readonly { readonly tree: BlockId; readonly error: string }[];
  /** Node records that could not be read at all, so not told apart (`check` names the damage). */
  readonly nodesUnreadable: number;
}

/**
 * Rebuilds the catalog of the store in `dir` when it is missing or damaged (opening such a store
 * rejects with `EINTEGRITY`; see `DiskCatalog`). Under the writer lock, it finds every tree record
 * in the packs (`findTrees`), decodes each tree whole, and writes a new catalog naming each tree
 * that decoded as a committed snapshot without parent, keyed `recovered-` and the tree id's first
 * twelve hex digits (the whole id in the rare case two share them), labelled
 * `cowstack.recovered.tree` = the whole id, created and updated now (the packs keep no time).
 * Trees that do not decode are reported and left out. A damaged catalog is renamed
 * `catalog.damaged` (`.2`, `.3`, … when taken), never deleted; no pack record is written or removed.
 *
 * What comes back is every tree the packs still hold, not just the trees the lost catalog named:
 * every commit, save or sync writes a new tree record, so the earlier generations of a snapshot,
 * and snapshots removed since, come back too, as long as gc has not collected them (gc forgets
 * every tree the catalog does not name, and compaction then deletes their records). The user
 * removes the ones not wanted (`cowstack rm`). Former active snapshots come back committed, and
 * parent links are lost: each recovered snapshot holds its whole tree.
 *
 * Rejects with `ENOENT` when `dir` holds no store, `EEXIST` when its catalog is sound (there is
 * nothing to recover, and it is never replaced), `EINVAL` when the catalog's format is newer than
 * this code, `ELOCKED` while a writer has the store open, and `EIO`/`ENOSPC` when a write fails
 * (the catalog on disk is then the one before, or none: run it again).
 */
export async function recoverDiskStore(options: RecoverOptions): Promise<CatalogRecovery> {
  const fs = options.fileSystem ?? new NodeFileSystem();
  const dir = resolve(options.dir);
  if (!(await fs.exists(dir))) throw fsError('ENOENT', { syscall: 'open', path: options.dir, detail: 'no store directory to recover' });
  const lock = await StoreLock.acquire(dir);
  try {
    if ((await readConfig(fs, dir)) === undefined) throw fsError('ENOENT', { syscall: 'open', path: options.dir, detail: 'not a cowstack store (no config)' });
    const state = await catalogFileState(fs, dir);
    if (state === 'sound') throw fsError('EEXIST', { syscall: 'open', path: join(dir, CATALOG_FILE), detail: 'the catalog is sound: there is nothing to recover' });
    const packs = await PackStore.open({ fs, dir, readOnly: false, ...(options.packTarget === undefined ? {} : { packTarget: options.packTarget }) });
    try {
      const codec = new TreeCodec();
      const found = await findTrees(packs);
      const cache = new Map<BlockId, object>();
      const read = (id: BlockId): Promise<Uint8Array> => packs.read(id, true);
      const now = new Date();
      const entries: CatalogEntry[] = [];
      const recovered: { key: string; tree: BlockId }[] = [];
      const skipped: { tree: BlockId; error: string }[] = [];
      const keys = new Set<string>();
      for (const id of found.trees) {
        let tree: Tree;
        try {
          tree = await codec.load(id, read, cache);
        } catch (error) {
          skipped.push({ tree: id, error: error instanceof Error ? error.message : String(error) });
          continue;
        }
        const short = `recovered-${shortBlockId(id)}`;
        const key = keys.has(short) ? `recovered-${id}` : short;
        keys.add(key);
        entries.push({ key, kind: 'committed', parent: undefined, labels: { [RECOVERED_TREE_LABEL]: id }, created: now, updated: now, tree });
        recovered.push({ key, tree: id });
      }
      const keptAs = state === 'damaged' ? await packs.guardedWrite(() => setAside(fs, dir, CATALOG_FILE)) : undefined;
      const catalog = new DiskCatalog(fs, dir, packs, codec);
      await catalog.save(entries);
      await catalog.close();
      return { catalog: state, keptAs, recovered, skipped, nodesUnreadable: found.unreadable };
    } catch (error) {
      await packs.abandon();
      throw error;
    }
  } finally {
    await lock.release();
  }
}
