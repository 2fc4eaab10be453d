import type { BlockId } from '../core/BlockId.js';

/**
 * Where blocks a store does not hold can be fetched from: the engine hook a lazy pull needs.
 * `RegistryBlockSource` is one (range requests into uncompressed layer blobs).
 *
 * This is the contract proposed to the engine; nothing in it calls a source yet. Where it would:
 *
 * - A snapshot made by a lazy pull holds trees whose block vectors name ids the block store does
 *   not have (built from a `BlockIndex`'s table of contents, not from the layer's bytes). The
 *   store keeps, per such snapshot, the source that has them (for a durable store: the registry
 *   reference, layer digests and index digests, so the source is made again at open).
 * - `BlockStore.get(id)` (memory and disk) on a miss asks `fetch(id)` of the sources of the
 *   snapshots being read, stores the bytes (so each block is fetched once and then kept: a
 *   later read, and `gc`, see an ordinary block) and returns them. `Layer` reads (`readFile`,
 *   `FileHandle.read`, streams) and copy-on-write (`write` reading a partly overwritten block)
 *   reach blocks only through `get`, so they need no change.
 * - `gc` does not count an id that a snapshot names but the store lacks as lost while a source
 *   covers it; `check` reports such ids as remote, not as damage; `usage` and `stats` count
 *   stored blocks only.
 *
 * Rules for an implementation: `fetch` resolves to the block's bytes, already checked to hash
 * to `id` (a mismatch rejects with `EINTEGRITY`, never resolves), or to `undefined` when the
 * source does not know `id`; it rejects with the codes of a registry (`ECONNRESET`, `EACCES`,
 * `EIO`, `ABORT_ERR` once `signal` is aborted). It may be called concurrently.
 */
export interface BlockSource {
  fetch(id: BlockId, signal?: AbortSignal): Promise<Uint8Array | undefined>;
}
