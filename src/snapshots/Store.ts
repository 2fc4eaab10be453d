import type { Readable } from 'node:stream';
import type { Change } from '../core/diff.js';
import type { ExportImageOptions, ExportedImage } from '../image/imageExport.js';
import type { ImportImageOptions } from '../image/imageImport.js';
import type { ExportLayerOptions } from '../image/layerExport.js';
import type { ImportLayerOptions, LayerSource } from '../image/layerImport.js';
import type { Credentials, PullOptions, PushOptions, PushResult } from '../registry/RegistryOptions.js';
import type { Layer } from '../layer/Layer.js';
import type { SnapshotKind } from './SnapshotState.js';

export type { PullOptions, PushOptions, PushResult };
export type { Change, ExportImageOptions, ExportLayerOptions, ExportedImage, ImportImageOptions, ImportLayerOptions, LayerSource, SnapshotKind };

/** Options of `openStore` (shared/API.md, "Opening a store"). */
export interface OpenOptions {
  /** Store directory; omitted: in memory. */
  dir?: string;
  /** Bytes per block: a power of two from 4096 to 1048576, fixed when the store is created. */
  blockSize?: number;
  /** Worker threads for hashing; 0 does all work on the calling thread. */
  workers?: number;
  /** Re-hash every block read from disk and reject a mismatch with `EINTEGRITY`. */
  verifyReads?: boolean;
  /** Open without the writer lock; every write rejects with `EROFS`. */
  readOnly?: boolean;
  /**
   * Credentials for the registries that lazily pulled snapshots fetch their blocks from, when
   * the store is opened again (a cowstack extension: the store never saves credentials; within
   * the process that pulled, the pull's own `auth` is used).
   */
  registryAuth?: Credentials;
}

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

export interface Usage {
  /** Bytes of data blocks this snapshot references that its parent does not. */
  size: number;
  /** How many such blocks. */
  blocks: number;
  /** Entries added, changed or deleted against the parent. */
  inodes: number;
}

export interface StoreStats {
  blockSize: number;
  /** Distinct stored data blocks. */
  blocks: number;
  /** Their bytes, each counted once. */
  storedBytes: number;
  snapshots: number;
}

export interface GcReport {
  blocksRemoved: number;
  bytesFreed: number;
}

export interface CheckProblem {
  code: string;
  message: string;
  path?: string;
  key?: string;
}

export interface CheckReport {
  ok: boolean;
  blocksChecked: number;
  /**
   * Distinct blocks that snapshots reference but the store has not fetched yet from the source a
   * lazy pull left (a cowstack extension): not damage, and not counted in `blocksChecked`.
   */
  blocksRemote: number;
  problems: CheckProblem[];
}

export interface Progress {
  done: number;
  total?: number;
  unit: string;
}

/** Options of long operations. */
export interface LongOperation {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
}

export interface WalkFilter {
  kind?: SnapshotKind;
  parent?: string;
  labels?: Record<string, string>;
}

/**
 * A store of snapshots in containerd's model (shared/API.md, "Snapshots").
 *
 * Vocabulary: a snapshot has a `key` and a kind: `committed` (immutable, may be a parent),
 * `active` (writable: a container's write layer) or `view` (read-only, never a parent).
 *
 * Rules:
 * - `prepare`/`view` with a key that exists reject with `EEXIST`; with a missing parent `ENOENT`;
 *   with a parent that is not committed `EINVAL`.
 * - `commit(name, key)` makes the committed snapshot `name` from the active `key`, at the point
 *   of `key`'s calls where it was made. Without `keep`, `key` ceases to exist and its layers reject
 *   with `EBADF`; with `keep`, `key` stays active on the new parent `name` with an empty diff.
 * - `remove` rejects with `ENOTEMPTY` while another snapshot has the key as parent; the blocks it
 *   alone held become garbage, freed by `gc`.
 * - Every call on a closed store rejects with `EBADF`; `close()` twice resolves. A store opened
 *   `readOnly` rejects every write with `EROFS`.
 */
export interface Store {
  readonly blockSize: number;
  readonly dir: string | undefined;
  readonly readOnly: boolean;
  prepare(key: string, parent?: string, options?: { labels?: Record<string, string> }): Promise<Layer>;
  view(key: string, parent: string | undefined, options?: { labels?: Record<string, string> }): Promise<Layer>;
  commit(name: string, key: string, options?: { labels?: Record<string, string>; keep?: boolean }): Promise<SnapshotInfo>;
  mount(key: string): Promise<Layer>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo>;
  update(key: string, changes: { labels: Record<string, string> }): Promise<SnapshotInfo>;
  walk(filter?: WalkFilter): AsyncIterable<SnapshotInfo>;
  usage(key: string): Promise<Usage>;
  diff(key: string, base?: string | null): AsyncIterable<Change>;
  stats(): Promise<StoreStats>;
  gc(options?: LongOperation): Promise<GcReport>;
  check(options?: LongOperation): Promise<CheckReport>;
  /**
   * Commits the real directory `dir` as snapshot `key` on `parent`: modes, owners, symbolic
   * links, hard links and mtimes kept. The snapshot is exactly `dir` (what the parent has and
   * `dir` lacks is deleted in it), so on a parent its diff is what changed, and content the
   * parent has is not stored again. Nothing is committed when it fails or is aborted.
   */
  importTree(key: string, parent: string | undefined, dir: string, options?: LongOperation): Promise<SnapshotInfo>;
  /** Writes snapshot `key`'s tree into the real directory `dir` (missing or empty), never outside it. */
  exportTree(key: string, dir: string): Promise<void>;
  /**
   * Applies one OCI/Docker layer (tar or gzip'd tar) on `parent` as the OCI image-spec says and
   * commits it as `key`. Hostile entries reject with `EINVAL` naming the entry; nothing is
   * committed then (src/image/layerImport.ts has the rules and limits).
   */
  importLayer(key: string, parent: string | undefined, source: LayerSource, options?: ImportLayerOptions): Promise<SnapshotInfo>;
  /** An OCI layer tar of `diff(key, base)`: whiteouts for deletions, an opaque whiteout for a recreated directory. */
  exportLayer(key: string, options?: ExportLayerOptions): Readable;
  /** Imports an OCI image layout or a `docker save` tar: one committed snapshot per layer, keyed by chain ID. */
  importImage(source: string, options?: ImportImageOptions): Promise<SnapshotInfo>;
  /** Writes `key`'s chain of committed snapshots as an OCI image layout in `dir`, tagged `options.tag` (default `latest`). */
  exportImage(key: string, dir: string, options?: ExportImageOptions): Promise<ExportedImage>;
  /**
   * Pushes committed `key`'s chain to an OCI distribution registry as image `ref`
   * (`host[:port]/name[:tag]`): blobs the registry has are not sent again.
   */
  push(key: string, ref: string, options?: PushOptions): Promise<PushResult>;
  /**
   * Pulls image `ref` into committed snapshots keyed by chain ID, fetching only layers the store
   * lacks; every blob verified against its digest. With `lazy`, only block indexes are fetched
   * and each block comes by a range request when first read, checked, then kept (design.md,
   * "Lazy pull").
   */
  pull(ref: string, options?: PullOptions): Promise<SnapshotInfo>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
