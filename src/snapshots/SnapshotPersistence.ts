import type { BlockId } from '../core/BlockId.js';
import type { Tree } from '../core/Tree.js';
import type { SnapshotKind } from './SnapshotState.js';

/** One snapshot as the catalog records it. */
export interface CatalogEntry {
  readonly key: string;
  readonly kind: SnapshotKind;
  readonly parent: string | undefined;
  readonly labels: Record<string, string>;
  readonly created: Date;
  readonly updated: Date;
  /** The snapshot's tree; or, for a snapshot whose tree could not be read, the id it had. */
  readonly tree: Tree | { readonly damaged: BlockId; readonly error: Error };
}

/**
 * Where a store keeps its catalog and trees between runs. The memory store has none; the disk
 * store's is `DiskCatalog`.
 *
 * Contract:
 * - `save(entries)` makes exactly `entries` the catalog, durably: every tree's nodes are written
 *   and fsynced with the data blocks they reference before the catalog that names them is
 *   atomically replaced. When it rejects, the catalog on disk is the one before (all or nothing).
 * - `collect(entries)` runs after the block collector: it forgets every stored tree node no entry
 *   references and gives unused pack space back to the file system. `entries` must equal what
 *   was last saved.
 * - `close()` is idempotent.
 */
export interface SnapshotPersistence {
  save(entries: readonly CatalogEntry[]): Promise<void>;
  collect(entries: readonly CatalogEntry[]): Promise<{ nodesRemoved: number; bytesFreed: number }>;
  close(): Promise<void>;
}
