import type { BlockId } from '../core/BlockId.js';
import type { BlockRef } from '../core/BlockVector.js';
import { fsError } from '../core/errors.js';
import type { Hasher } from '../hashing/Hasher.js';
import type { BlockSource, SourcePersistence } from './BlockSource.js';
import type { BlockProblem, BlockStore, BlockStoreStats } from './BlockStore.js';
import { TurnBatch, type Waiting } from './TurnBatch.js';

/** Source calls one store keeps in flight at most: small random reads (a container starting) each make one. */
const MAX_CONCURRENT_FETCHES = 8;
/** Bytes of blocks asked of a source in one call, at most: 16 MiB. */
const MAX_FETCH_BYTES = 16 << 20;
/** Bytes of blocks asked of sources at once, at most (a call alone always runs): 64 MiB, four full calls. */
const MAX_BYTES_IN_FLIGHT = 64 << 20;

/** A `get` waiting for a fetched block. */
type Settle = Waiting<BlockId, Uint8Array>;

/**
 * A block store that fetches the blocks it lacks from its sources (`BlockSource`): the engine
 * side of a lazy pull. Every call but `get` goes to the store it wraps, so `has`, `sizeOf`,
 * `stats`, `ids` and `verify` count stored blocks only; a block a snapshot names but nobody has
 * fetched yet is *remote* (`isRemote`), neither stored nor lost.
 *
 * `get(id)` of a block not stored asks the sources that cover it, in the order they were
 * attached; the first to answer gives the bytes. They are hashed here, on the store's hasher (the
 * worker threads), and only bytes that hash to `id` are returned and stored (`putHashed`: hashed
 * once, never again); others reject with `EINTEGRITY` and are not kept. Whatever a source
 * answers, no wrong byte is served or stored. So a block is fetched once, then kept:
 * concurrent reads of one id share one fetch, and a read-only or failed store (whose `put` would
 * reject) serves the bytes without keeping them. Readers get the bytes as soon as they are
 * checked; storing them runs behind (`close` waits for it), and one that fails leaves the
 * block remote, to be fetched again. Misses made in one turn of the event loop (the
 * blocks of one read) go to a source together, so it can fetch neighbours in one request; a
 * source call that fails rejects every read waiting on it. A block no source has rejects as the
 * wrapped store does for a missing block (`EINTEGRITY`).
 *
 * Sources live as long as some snapshot still needs them: `attach` adds one (durably, through
 * `persistence`, before the caller makes any snapshot that relies on it) and pins it until the
 * caller releases it; `prune` (the collector, after it has saved the catalog and synced the
 * blocks) drops every unpinned source that covers none of the blocks still remote.
 */
export class FetchingBlockStore implements BlockStore {
  readonly blockSize: number;
  readonly #inner: BlockStore;
  readonly #hasher: Hasher;
  readonly #persistence: SourcePersistence | undefined;
  /** By `record.name`, in the order attached. */
  readonly #sources = new Map<string, BlockSource>();
  /** How many attach calls hold each source name. */
  readonly #pins = new Map<string, number>();
  readonly #fetching = new Map<BlockId, Promise<Uint8Array>>();
  /** Stores of fetched blocks still running: `close` waits for them. */
  readonly #keeping = new Set<Promise<void>>();
  /** Misses not yet asked of a source, each with its waiting `get`. */
  readonly #misses = new TurnBatch<BlockId, Uint8Array>((waiting) => void this.#flush(waiting));
  readonly #waiting: (() => void)[] = [];
  #active = 0;
  #activeBytes = 0;

  /** `hasher` is the store's: the one `inner` hashes with. */
  constructor(inner: BlockStore, hasher: Hasher, persistence: SourcePersistence | undefined, sources: readonly BlockSource[] = []) {
    this.blockSize = inner.blockSize;
    this.#inner = inner;
    this.#hasher = hasher;
    this.#persistence = persistence;
    for (const source of sources) this.#sources.set(source.record.name, source);
  }

  /** Whether `id` is not stored but a source covers it. */
  isRemote(id: BlockId): boolean {
    if (this.#inner.has(id)) return false;
    for (const source of this.#sources.values()) if (source.covers(id)) return true;
    return false;
  }

  /**
   * Adds `source` (replacing one of the same name), saved before this resolves; resolves to the
   * function that unpins it. A pinned source is never pruned.
   */
  async attach(source: BlockSource): Promise<() => void> {
    const { name } = source.record;
    this.#inner.checkWritable('attach');
    const next = new Map(this.#sources);
    next.set(name, source);
    await this.#persistence?.save([...next.values()].map((item) => item.record));
    this.#sources.set(name, source);
    this.#pins.set(name, (this.#pins.get(name) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const pins = this.#pins.get(name)! - 1;
      if (pins === 0) this.#pins.delete(name);
      else this.#pins.set(name, pins);
    };
  }

  /**
   * Drops every unpinned source that covers none of `needed` (the referenced blocks not stored),
   * saved before this resolves.
   */
  async prune(needed: ReadonlySet<BlockId>): Promise<void> {
    const kept = new Map<string, BlockSource>();
    for (const [name, source] of this.#sources) {
      if (this.#pins.has(name) || coversAny(source, needed)) kept.set(name, source);
    }
    if (kept.size === this.#sources.size) return;
    await this.#persistence?.save([...kept.values()].map((source) => source.record));
    this.#sources.clear();
    for (const [name, source] of kept) this.#sources.set(name, source);
  }

  put(blocks: readonly Uint8Array[]): Promise<BlockRef[]> {
    return this.#inner.put(blocks);
  }

  putHashed(blocks: readonly Uint8Array[], ids: readonly BlockId[]): Promise<void> {
    return this.#inner.putHashed(blocks, ids);
  }

  get(id: BlockId): Promise<Uint8Array> {
    if (this.#sources.size === 0 || this.#inner.has(id)) return this.#inner.get(id);
    let pending = this.#fetching.get(id);
    if (pending === undefined) {
      pending = this.#misses.request(id);
      this.#fetching.set(id, pending);
    }
    return pending;
  }

  /**
   * Starts fetching the remote blocks among `refs` that no one is fetching yet (read-ahead), once
   * they are at least half of `refs`; the reads that want them later share the fetch. Failures are
   * left to those reads: a block whose fetch failed is fetched again when read.
   */
  prefetch(refs: readonly BlockRef[]): void {
    if (this.#sources.size === 0) return;
    const wanted = refs.filter((id): id is BlockId => id !== null);
    const fresh = wanted.filter((id) => !this.#fetching.has(id) && this.isRemote(id));
    // Wait until half the window is new, so a reader moving on one read at a time makes few large
    // requests rather than one per read (the kernel's asynchronous read-ahead mark, in effect).
    if (fresh.length === 0 || fresh.length * 2 < wanted.length) return;
    for (const id of fresh) this.get(id).catch(() => undefined);
  }

  has(id: BlockId): boolean {
    return this.#inner.has(id);
  }

  delete(ids: Iterable<BlockId>): Promise<BlockStoreStats> {
    return this.#inner.delete(ids);
  }

  ids(): Iterable<BlockId> {
    return this.#inner.ids();
  }

  sizeOf(id: BlockId): number {
    return this.#inner.sizeOf(id);
  }

  stats(): BlockStoreStats {
    return this.#inner.stats();
  }

  verify(onProgress?: (done: number, total: number) => void): Promise<BlockProblem[]> {
    return this.#inner.verify(onProgress);
  }

  checkWritable(syscall: string): void {
    this.#inner.checkWritable(syscall);
  }

  /** Resolves once every fetched block being stored now is stored (or given up): store-wide figures wait for it. */
  async settled(): Promise<void> {
    while (this.#keeping.size > 0) await Promise.all(this.#keeping);
  }

  async close(): Promise<void> {
    await this.settled();
    await this.#inner.close();
  }

  /**
   * Fetches the misses of one turn of the event loop (every `get` of one read lands in one batch,
   * `TurnBatch`, so a source can fetch neighbouring blocks in one request):
   * each source, in order, is asked for the ids it covers that no source before it gave, in calls
   * of at most `MAX_FETCH_BYTES` of blocks (which bounds the memory one call pins).
   */
  async #flush(waiting: readonly Settle[]): Promise<void> {
    // One entry per id: a second `get` of an id being fetched shares the first's promise.
    const batch = new Map(waiting.map((settle) => [settle.key, settle]));
    const perCall = Math.max(1, Math.floor(MAX_FETCH_BYTES / this.blockSize));
    for (const source of [...this.#sources.values()]) {
      const wanted = [...batch.keys()].filter((id) => source.covers(id));
      const calls: BlockId[][] = [];
      for (let i = 0; i < wanted.length; i += perCall) calls.push(wanted.slice(i, i + perCall));
      await Promise.all(calls.map((ids) => this.#fetchFrom(source, ids, batch)));
    }
    // No source had them: the wrapped store says why (missing, or stored meanwhile).
    for (const [id, settle] of batch) {
      this.#fetching.delete(id);
      this.#inner.get(id).then(settle.resolve, settle.reject);
    }
  }

  /**
   * One source call: the blocks found are hashed, those that match go to their readers at once,
   * then are kept, and every block asked for leaves `batch` but the ones the source did not have;
   * a failure of the call (or of the hashing) rejects every read of `ids`. Until a block is
   * stored, a new `get` of it is answered from the fetch (it stays in `#fetching`), so it crosses
   * the network once.
   */
  async #fetchFrom(source: BlockSource, ids: readonly BlockId[], batch: Map<BlockId, Settle>): Promise<void> {
    let got: BlockId[];
    let blocks: Uint8Array[];
    let actual: BlockId[];
    try {
      const found = await this.#limited(ids.length * this.blockSize, () => source.fetch(ids));
      got = ids.filter((id) => found.has(id) && batch.has(id));
      blocks = got.map((id) => found.get(id)!);
      actual = await this.#hasher.hash(blocks);
    } catch (error) {
      for (const id of ids) this.#settle(batch, id, (waiting) => waiting.reject(error));
      return;
    }
    const good: number[] = [];
    got.forEach((id, i) => {
      if (actual[i] === id) {
        good.push(i);
        // Stays in `#fetching` until kept: a `get` meanwhile shares these bytes.
        batch.get(id)!.resolve(blocks[i]!);
        batch.delete(id);
        return;
      }
      const error = fsError('EINTEGRITY', { syscall: 'read', detail: `${source.record.name} answered block ${id} with bytes that hash to ${actual[i]}` });
      this.#settle(batch, id, (waiting) => waiting.reject(error));
    });
    const keeping = this.#keep(good.map((i) => blocks[i]!), good.map((i) => got[i]!))
      // The readers have their bytes; a block not kept stays remote, fetched again next time.
      .catch(() => undefined)
      .finally(() => {
        for (const i of good) this.#fetching.delete(got[i]!);
        this.#keeping.delete(keeping);
      });
    this.#keeping.add(keeping);
  }

  /** Ends the wait of the read of `id` still in `batch`, if any, with `settle`; a later `get` fetches afresh. */
  #settle(batch: Map<BlockId, Settle>, id: BlockId, settle: (waiting: Settle) => void): void {
    const waiting = batch.get(id);
    if (waiting === undefined) return;
    batch.delete(id);
    this.#fetching.delete(id);
    settle(waiting);
  }

  /** Stores checked blocks, unless the store takes no writes now (read-only, failed): then they are only served. */
  async #keep(blocks: readonly Uint8Array[], ids: readonly BlockId[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      this.#inner.checkWritable('read');
    } catch {
      return;
    }
    await this.#inner.putHashed(blocks, ids);
  }

  /**
   * Runs `task`, a source call for `bytes` of blocks, once fewer than `MAX_CONCURRENT_FETCHES`
   * others run and their bytes and these stay within `MAX_BYTES_IN_FLIGHT` (or none runs).
   */
  async #limited<T>(bytes: number, task: () => Promise<T>): Promise<T> {
    while (this.#active >= MAX_CONCURRENT_FETCHES || (this.#active > 0 && this.#activeBytes + bytes > MAX_BYTES_IN_FLIGHT)) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#active++;
    this.#activeBytes += bytes;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#activeBytes -= bytes;
      // Every waiter looks again: one that needs fewer bytes may fit where the first does not.
      for (const wake of this.#waiting.splice(0)) wake();
    }
  }
}

function coversAny(source: BlockSource, ids: Iterable<BlockId>): boolean {
  for (const id of ids) if (source.covers(id)) return true;
  return false;
}
