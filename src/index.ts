/**
 * cowstack: a block-level copy-on-write snapshot engine. The public surface is shared/API.md;
 * everything exported here is part of it.
 */
export { openStore, DEFAULT_BLOCK_SIZE } from './openStore.js';
export type {
  Change, ExportImageOptions, ExportLayerOptions, ExportedImage, ImportImageOptions, ImportLayerOptions, LayerSource, CheckProblem, CheckReport, GcReport, LongOperation, OpenOptions, Progress, SnapshotInfo, SnapshotKind, Store,
  StoreStats, Usage, WalkFilter,
} from './snapshots/Store.js';
export type { Layer, OpenFlags, TimeLike } from './layer/Layer.js';
export type { FileHandle } from './layer/FileHandle.js';
export type { Stats, Dirent } from './layer/Stats.js';
export type { CowstackError, ErrorCode } from './core/errors.js';
export type { Credentials, PullOptions, PushOptions, PushResult } from './registry/RegistryOptions.js';
