import type { BlockId } from '../core/BlockId.js';

/**
 * Where blocks a store does not hold can be fetched from: what a lazy pull leaves behind. A
 * snapshot made by a lazy pull names blocks by id (taken from a block index, not from the
 * layer's bytes); the store fetches each from a source the first time it is read, keeps it,
 * and from then on it is an ordinary stored block. `RegistryBlockSource` is one (HTTP range
 * requests into uncompressed layer blobs).
 *
 * Contract:
 * - `covers(id)` tells, without I/O, whether the source can fetch `id`.
 * - `fetch(ids)` resolves to the bytes it was given for each of `ids` the source knows (the others
 *   are left out), as received: the store hashes every block and refuses (`EINTEGRITY`) bytes
 *   that do not match, so a source need not, and nothing it answers is trusted. It may fetch
 *   blocks that lie side by side in one request. It rejects with the codes of its transport
 *   (`ECONNRESET`, `EACCES`, `EIO`…). It may be called concurrently.
 * - `record` is what a durable store writes so it can make the source again when it opens (the
 *   `kind` names the factory that reads it back): never a secret, since it lies in the store
 *   directory. Two sources with the same `record.name` are the same source.
 */
export interface BlockSource {
  readonly record: SourceRecord;
  covers(id: BlockId): boolean;
  fetch(ids: readonly BlockId[]): Promise<Map<BlockId, Uint8Array>>;
}

/** A block source as a durable store keeps it (`SourceCatalog`). */
export interface SourceRecord {
  /** The factory that makes the source from this record (`'registry'`). */
  readonly kind: string;
  /** Identity: a source attached under a name already held replaces that one. */
  readonly name: string;
  /** Plain JSON describing the source; no credentials. */
  readonly spec: unknown;
  /** Attachments too large for the spec (a registry source's block indexes), each stored once under its SHA-256. */
  readonly blobs: readonly Uint8Array[];
}

/** Makes a source again from its record (a durable store at open); throws `EINVAL` for a record it cannot read. */
export type SourceFactory = (record: SourceRecord) => BlockSource;

/**
 * Where a store's sources are kept between runs (the memory store has none; the disk store's is
 * `SourceCatalog`). `save(records)` makes exactly `records` the stored set, durably and
 * atomically: when it rejects, the set on disk is the one before.
 */
export interface SourcePersistence {
  save(records: readonly SourceRecord[]): Promise<void>;
}
