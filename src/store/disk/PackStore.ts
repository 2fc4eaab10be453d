import { join } from 'node:path';
import type { BlockId } from '../../core/BlockId.js';
import { fsError, hasCode } from '../../core/errors.js';
import { SerialQueue } from '../../snapshots/SerialQueue.js';
import { BlockIndex, type RecordLocation } from './BlockIndex.js';
import { checksumMatches, withChecksum } from './checksum.js';
import type { FileSystem, StoreFile } from './FileSystem.js';
import {
  MAX_PAYLOAD, PACK_HEADER_SIZE, PACK_VERSION, RECORD_HEADER_SIZE, RECORD_MAGIC, packFileName, packHeader, packNumberOf,
  parsePackHeader, parseRecordHeader, recordCrcMatches, recordId, writeRecordHeader, type RecordHeader, type RecordKind,
} from './packFormat.js';

/** A pack grows to about this size before the store starts the next one. */
export const DEFAULT_PACK_TARGET = 32 << 20;
/** Packs whose live bytes are below this share of their size are rewritten by `compact`. */
export const COMPACT_THRESHOLD = 0.5;
const INDEX_MAGIC = 0x46495743; // "CWIF"
const INDEX_VERSION = 1;
/** Read handles kept open while no read uses them (the least recently used beyond this are closed). */
const OPEN_READERS = 64;
/** `readMany` joins neighbouring records into reads of at most this many bytes: 1 MiB. */
const MAX_JOINED_READ = 1 << 20;
/** Joined reads one `readMany` keeps in flight at most (so at most 16 MiB of read buffers). */
const JOINED_READS_IN_FLIGHT = 16;

export interface PackRecord {
  readonly kind: RecordKind;
  readonly id: BlockId;
  readonly payload: Uint8Array;
}

export interface PackStoreOptions {
  readonly fs: FileSystem;
  /** The store directory; packs live in `packs/` below it, the index in `index`. */
  readonly dir: string;
  readonly readOnly: boolean;
  readonly packTarget?: number;
}

/** What opening found and repaired, for tests and `check`. */
export interface Recovery {
  /** Records found in packs beyond what the index file covered. */
  recordsScanned: number;
  /** Bytes cut off torn pack tails. */
  bytesTruncated: number;
  /** Records inside packs that did not check and were skipped (their ids read as missing). */
  recordsDamaged: number;
  /** Packs whose header did not check, renamed to `NAME.damaged` (never deleted). */
  packsQuarantined: string[];
  /** True when the index file was missing or unreadable and was rebuilt from the packs. */
  indexRebuilt: boolean;
}

/** Counts and payload bytes of one kind of record. */
export interface KindStats {
  count: number;
  bytes: number;
}

/**
 * Append-only pack files and the index over them: where the durable store keeps data blocks
 * and tree nodes, each once, under its SHA-256.
 *
 * Invariants:
 * - Every index entry points at a whole, CRC-valid record with that id in an existing pack.
 * - Records are appended, never changed; a pack is only deleted by `compact` once every live
 *   record in it has been copied, fsynced, and the index file written without it.
 * - After any failed write or fsync the store is broken: every later write rejects with `EIO`
 *   (restic's packer does the same); what it had acknowledged stays as it was.
 * - The index file may lag the packs: opening scans each pack past the size the index file
 *   covered and adds what it finds. A record that does not check is skipped when a good record
 *   follows it (damage in place) and cut off with everything after it when none does (a torn
 *   tail).
 * - A read handle is never closed while a read (or fsync) uses it. Handles are shared per pack
 *   and counted; at most `OPEN_READERS` stay open once idle. One evicted from that LRU, or whose
 *   pack `compact` deleted, leaves it at once (the next read of its pack opens a fresh handle)
 *   and is closed when its last user ends. `close()` and `abandon()` resolve only once every
 *   handle is closed, waiting for the reads in flight.
 */
export class PackStore {
  readonly recovery: Recovery;
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #packDir: string;
  readonly #readOnly: boolean;
  readonly #packTarget: number;
  readonly #index: BlockIndex;
  readonly #queue = new SerialQueue();
  /** Read handles by pack, least recently used first; concurrent first reads of a pack open it once. */
  readonly #readers = new Map<number, PackReader>();
  /** Every read handle not closed yet: in `#readers`, or left it and waiting for its last user. */
  readonly #unclosed = new Set<PackReader>();
  readonly #packSizes = new Map<number, number>();
  readonly #dirty = new Set<number>();
  readonly #stats: Record<RecordKind, KindStats> = { block: { count: 0, bytes: 0 }, node: { count: 0, bytes: 0 } };
  #writer: { pack: number; file: StoreFile; size: number } | undefined;
  #packsDirDirty = false;
  #appendedSinceIndex = 0;
  /** The highest pack number ever used in this directory, quarantined ones included: never reused. */
  #highestPack = 0;
  #broken: Error | undefined;
  #closed = false;

  private constructor(options: PackStoreOptions, index: BlockIndex, recovery: Recovery) {
    this.#fs = options.fs;
    this.#dir = options.dir;
    this.#packDir = join(options.dir, 'packs');
    this.#readOnly = options.readOnly;
    this.#packTarget = options.packTarget ?? DEFAULT_PACK_TARGET;
    this.#index = index;
    this.recovery = recovery;
    for (const [, location] of index.entries()) this.#count(location, 1);
  }

  /** Opens (creating when writable) the packs of `dir`, recovering as the class comment says. */
  static async open(options: PackStoreOptions): Promise<PackStore> {
    const { fs, dir, readOnly } = options;
    const packDir = join(dir, 'packs');
    if (!readOnly) await fs.mkdir(packDir);
    const saved = await loadIndexFile(fs, join(dir, 'index'));
    const recovery: Recovery = { recordsScanned: 0, bytesTruncated: 0, recordsDamaged: 0, packsQuarantined: [], indexRebuilt: saved === undefined };
    const index = saved?.index ?? new BlockIndex();
    const coverage = saved?.coverage ?? new Map<number, number>();
    const names = await fs.readdir(packDir).catch(() => [] as string[]);
    const onDisk = names.map(packNumberOf).filter((n): n is number => n !== undefined).sort((a, b) => a - b);
    const everUsed = names.map((name) => packNumberOf(name.replace(/\.damaged$/, ''))).filter((n): n is number => n !== undefined);
    const present = new Set(onDisk);
    for (const pack of saved?.retired ?? []) {
      if (!present.has(pack)) continue;
      present.delete(pack);
      index.deletePack(pack);
      if (!readOnly) await fs.unlink(join(packDir, packFileName(pack)));
    }
    for (const pack of coverage.keys()) if (!present.has(pack)) index.deletePack(pack);
    const store = new PackStore(options, index, recovery);
    store.#highestPack = Math.max(0, ...everUsed, ...coverage.keys());
    try {
      for (const pack of [...present].sort((a, b) => a - b)) {
        const size = await store.#scanPack(pack, coverage.get(pack));
        if (size >= 0) store.#packSizes.set(pack, size);
      }
      // What a killed writer left unsynced is visible here (the page cache) but not durable; this
      // store will trust it (dedup against it, name it in catalogs), so make it durable first.
      if (!readOnly) {
        await store.#queue.run(() => store.#syncDirty());
        await fs.syncDir(packDir);
        await fs.syncDir(dir);
      }
    } catch (error) {
      await store.abandon();
      throw error;
    }
    return store;
  }

  has(id: BlockId): boolean {
    return this.#index.has(id);
  }

  location(id: BlockId): RecordLocation | undefined {
    return this.#index.get(id);
  }

  stats(kind: RecordKind): KindStats {
    return { ...this.#stats[kind] };
  }

  *ids(kind: RecordKind): Generator<BlockId> {
    for (const [id, location] of this.#index.entries()) if (location.kind === kind) yield id;
  }

  /**
   * Appends the records whose ids are not stored yet, in one write per pack. Resolves once they
   * are written (not yet durable: `sync` makes them so) and indexed.
   */
  append(records: readonly PackRecord[]): Promise<void> {
    return this.#queue.run(async () => {
      this.#checkWritable('write');
      const seen = new Set<BlockId>();
      const fresh = records.filter((record) => {
        if (this.#index.has(record.id) || seen.has(record.id)) return false;
        seen.add(record.id);
        return true;
      });
      await this.#write(fresh);
    });
  }

  /**
   * The payload of record `id`; with `verify`, re-hashed. Rejects with `EINTEGRITY` when damaged or
   * missing, `EBADF` once the store is closed. A read that races a compaction moving the record
   * (and finds the old pack gone) is retried at its new place; one that had its handle already
   * reads the old pack to the end, as its handle keeps the deleted file.
   */
  async read(id: BlockId, verify: boolean): Promise<Buffer> {
    this.#checkOpen('read');
    const location = this.#index.get(id);
    if (location === undefined) throw fsError('EINTEGRITY', { syscall: 'read', detail: `record ${id} is missing` });
    try {
      return await this.#readAt(id, location, verify);
    } catch (error) {
      const now = this.#index.get(id);
      if (now === undefined || (now.pack === location.pack && now.offset === location.offset)) throw error;
      return this.#readAt(id, now, verify);
    }
  }

  /**
   * Reads the records of `ids` as `read(id, verify)` would, each answer the same (a payload, or
   * the error `read` rejects with), but records that lie side by side in one pack — a file
   * written in one go, read in order — with one `pread` of up to `MAX_JOINED_READ` bytes
   * (`JOINED_READS_IN_FLIGHT` at a time) instead of one each. `onRead` gets the answers of each
   * read as it ends, by index into `ids`. A joined read that fails, or a record in it that does
   * not check, is read again alone by `read`, which then gives the answer (and retries a record
   * that compaction moved).
   */
  async readMany(ids: readonly BlockId[], verify: boolean, onRead: (answers: ReadonlyMap<number, Buffer | Error>) => void): Promise<void> {
    const runs = this.#joinedRuns(ids);
    let next = 0;
    const reader = async (): Promise<void> => {
      while (next < runs.length) {
        const run = runs[next++]!;
        const answers = new Map<number, Buffer | Error>();
        const joined = run.length > 1 ? await this.#readJoined(ids, run, verify).catch(() => undefined) : undefined;
        for (const [k, { index }] of run.entries()) {
          const payload = joined?.[k];
          if (payload !== undefined) answers.set(index, payload);
          else answers.set(index, await this.read(ids[index]!, verify).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))));
        }
        onRead(answers);
      }
    };
    await Promise.all(Array.from({ length: Math.min(JOINED_READS_IN_FLIGHT, runs.length) }, reader));
  }

  /**
   * The records of `ids` (by index into it, with where the index has them), in runs of records
   * side by side in one pack; an id not indexed is a run alone.
   */
  #joinedRuns(ids: readonly BlockId[]): Located[][] {
    const located: Located[] = ids.map((id, index) => ({ index, location: this.#index.get(id) }));
    located.sort((a, b) => (a.location?.pack ?? -1) - (b.location?.pack ?? -1) || (a.location?.offset ?? 0) - (b.location?.offset ?? 0));
    const runs: Located[][] = [];
    let start: RecordLocation | undefined;
    let end: RecordLocation | undefined;
    for (const record of located) {
      const { location } = record;
      const joins = location !== undefined && start !== undefined && end !== undefined && location.pack === end.pack
        && location.offset === end.offset + RECORD_HEADER_SIZE + end.length
        && location.offset + RECORD_HEADER_SIZE + location.length - start.offset <= MAX_JOINED_READ;
      if (joins) runs[runs.length - 1]!.push(record);
      else {
        runs.push([record]);
        start = location;
      }
      end = location;
    }
    return runs;
  }

  /** One `pread` of the records of `run` (side by side, all indexed): each payload, or undefined for one that does not check. */
  async #readJoined(ids: readonly BlockId[], run: readonly Located[], verify: boolean): Promise<Array<Buffer | undefined>> {
    const first = run[0]!.location!;
    const last = run[run.length - 1]!.location!;
    const bytes = Buffer.allocUnsafe(last.offset + RECORD_HEADER_SIZE + last.length - first.offset);
    const got = await this.#withReader(first.pack, (file) => file.read(bytes, 0, bytes.byteLength, first.offset));
    return run.map(({ index, location }) => {
      const at = location!.offset - first.offset;
      const record = bytes.subarray(at, Math.min(got, at + RECORD_HEADER_SIZE + location!.length));
      const checked = checkRecord(ids[index]!, location!, record, verify);
      return typeof checked === 'string' ? undefined : checked;
    });
  }

  async #readAt(id: BlockId, location: RecordLocation, verify: boolean): Promise<Buffer> {
    const bytes = Buffer.allocUnsafe(RECORD_HEADER_SIZE + location.length);
    const got = await this.#withReader(location.pack, (file) => file.read(bytes, 0, bytes.byteLength, location.offset));
    const checked = checkRecord(id, location, bytes.subarray(0, got), verify);
    if (typeof checked === 'string') {
      throw fsError('EINTEGRITY', { syscall: 'read', path: packFileName(location.pack), detail: `record ${id}: ${checked}` });
    }
    return checked;
  }

  /** Forgets records (the collector proved them garbage); `compact` gives their space back. */
  delete(ids: Iterable<BlockId>): KindStats {
    const freed = { count: 0, bytes: 0 };
    for (const id of ids) {
      const location = this.#index.get(id);
      if (location === undefined) continue;
      this.#index.delete(id);
      this.#count(location, -1);
      freed.count++;
      freed.bytes += location.length;
    }
    return freed;
  }

  /** Makes every record appended so far durable: fsyncs the packs written and the pack directory. */
  sync(): Promise<void> {
    return this.#queue.run(async () => {
      this.#checkWritable('fsync');
      await this.#syncDirty();
      if (this.#appendedSinceIndex > Math.max(64 << 20, this.#index.size * 44 * 4)) await this.#saveIndex([]);
    });
  }

  /**
   * Gives back the space of forgotten records: packs whose live share is below `threshold` have
   * their live records copied to the end of the newest pack, which is fsynced; then the index
   * file is written without the old packs, and only then are they deleted. Killed at any moment,
   * it loses nothing: each old pack stays until its records are durable elsewhere.
   */
  compact(threshold = COMPACT_THRESHOLD): Promise<{ packsRewritten: number; bytesReclaimed: number }> {
    return this.#queue.run(async () => {
      this.#checkWritable('gc');
      const live = new Map<number, number>();
      for (const [, location] of this.#index.entries()) {
        live.set(location.pack, (live.get(location.pack) ?? 0) + RECORD_HEADER_SIZE + location.length);
      }
      const victims = [...this.#packSizes].filter(([pack, size]) => (live.get(pack) ?? 0) < threshold * (size - PACK_HEADER_SIZE) && size > PACK_HEADER_SIZE)
        .map(([pack]) => pack);
      if (victims.length === 0) return { packsRewritten: 0, bytesReclaimed: 0 };
      if (this.#writer !== undefined && victims.includes(this.#writer.pack)) await this.#rollOver();
      let reclaimed = 0;
      for (const pack of victims) {
        const records: PackRecord[] = [];
        for (const id of this.#index.idsInPack(pack)) {
          const location = this.#index.get(id)!;
          records.push({ kind: location.kind, id, payload: Buffer.from(await this.read(id, false)) });
        }
        await this.#write(records);
        reclaimed += this.#packSizes.get(pack)! - records.reduce((sum, r) => sum + RECORD_HEADER_SIZE + r.payload.byteLength, 0);
      }
      await this.#guard(async () => {
        for (const pack of [...this.#dirty]) {
          if (victims.includes(pack)) continue;
          await this.#syncPack(pack);
          this.#dirty.delete(pack);
        }
        await this.#fs.syncDir(this.#packDir);
      });
      await this.#saveIndex(victims);
      await this.#guard(async () => {
        for (const pack of victims) {
          // Reads still using its handle finish on the unlinked file; new ones find it gone.
          this.#retireReader(pack);
          this.#packSizes.delete(pack);
          this.#dirty.delete(pack);
          await this.#fs.unlink(join(this.#packDir, packFileName(pack)));
        }
        await this.#fs.syncDir(this.#packDir);
      });
      return { packsRewritten: victims.length, bytesReclaimed: reclaimed };
    });
  }

  /** Bytes of every pack file, as on disk. */
  packBytes(): number {
    let total = 0;
    for (const size of this.#packSizes.values()) total += size;
    return total;
  }

  /** Verifies every record (CRC and SHA-256); calls `onRecord` after each. */
  async verifyAll(kind: RecordKind, onRecord: (id: BlockId, damage: string | undefined) => void): Promise<void> {
    for (const id of [...this.ids(kind)]) {
      let damage: string | undefined;
      try {
        await this.read(id, true);
      } catch (error) {
        // Collected by a gc running meanwhile: gone, not damaged.
        if (!this.#index.has(id)) continue;
        damage = error instanceof Error ? error.message : String(error);
      }
      onRecord(id, damage);
    }
  }

  /**
   * Writes the index file (when writable and healthy), syncs, and closes every file, even when
   * that fails; resolves once every file is closed (reads in flight end first). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return this.abandon();
    await this.#queue.drain();
    try {
      if (!this.#readOnly && this.#broken === undefined) {
        await this.sync();
        await this.#queue.run(() => this.#saveIndex([]));
      }
    } finally {
      await this.abandon();
    }
  }

  /**
   * Closes every file without writing anything: for a store that failed to open, or at the end of
   * `close`. Idle read handles close at once, those in use when their reads end; resolves once all
   * are closed. Later reads reject with `EBADF`. Idempotent.
   */
  async abandon(): Promise<void> {
    this.#closed = true;
    const writer = this.#writer;
    this.#writer = undefined;
    for (const pack of [...this.#readers.keys()]) this.#retireReader(pack);
    await writer?.file.close().catch(() => undefined);
    await Promise.all([...this.#unclosed].map((reader) => reader.closed));
  }

  // ---- internals ----

  #set(id: BlockId, location: RecordLocation): void {
    const previous = this.#index.get(id);
    if (previous !== undefined) this.#count(previous, -1);
    this.#index.set(id, location);
    this.#count(location, 1);
  }

  #count(location: RecordLocation, sign: 1 | -1): void {
    const stats = this.#stats[location.kind];
    stats.count += sign;
    stats.bytes += sign * location.length;
  }

  /** Appends records (already filtered) across as many packs as they need. Caller holds the queue. */
  async #write(records: readonly PackRecord[]): Promise<void> {
    let i = 0;
    while (i < records.length) {
      if (this.#writer === undefined || this.#writer.size >= this.#packTarget) await this.#rollOver();
      const writer = this.#writer!;
      let bytes = 0;
      let j = i;
      while (j < records.length && (j === i || writer.size + bytes + RECORD_HEADER_SIZE + records[j]!.payload.byteLength <= this.#packTarget)) {
        bytes += RECORD_HEADER_SIZE + records[j]!.payload.byteLength;
        j++;
      }
      // The headers in one buffer, the payloads written from where they are: one gathered write, no copy.
      const headers = Buffer.allocUnsafe((j - i) * RECORD_HEADER_SIZE);
      const parts: Uint8Array[] = [];
      const locations: [BlockId, RecordLocation][] = [];
      let at = 0;
      for (let k = i; k < j; k++) {
        const record = records[k]!;
        const header = (k - i) * RECORD_HEADER_SIZE;
        writeRecordHeader(headers, header, record.kind, record.id, record.payload);
        parts.push(headers.subarray(header, header + RECORD_HEADER_SIZE), record.payload);
        locations.push([record.id, { pack: writer.pack, offset: writer.size + at, length: record.payload.byteLength, kind: record.kind }]);
        at += RECORD_HEADER_SIZE + record.payload.byteLength;
      }
      await this.#guard(() => writer.file.writev(parts, writer.size));
      writer.size += bytes;
      this.#packSizes.set(writer.pack, writer.size);
      this.#dirty.add(writer.pack);
      this.#appendedSinceIndex += bytes;
      for (const [id, location] of locations) this.#set(id, location);
      i = j;
    }
  }

  /** fsyncs every pack written since the last sync, and the pack directory when it changed. */
  async #syncDirty(): Promise<void> {
    await this.#guard(async () => {
      for (const pack of [...this.#dirty]) {
        await this.#syncPack(pack);
        this.#dirty.delete(pack);
      }
      if (this.#packsDirDirty) {
        await this.#fs.syncDir(this.#packDir);
        this.#packsDirDirty = false;
      }
    });
  }

  /** Starts the next pack: created with its header; the old writer, fsynced, becomes a plain pack. */
  async #rollOver(): Promise<void> {
    const old = this.#writer;
    if (old !== undefined) {
      this.#writer = undefined;
      await this.#guard(async () => {
        try {
          if (this.#dirty.has(old.pack)) await old.file.sync();
          this.#dirty.delete(old.pack);
        } finally {
          await old.file.close();
        }
      });
    }
    const pack = Math.max(this.#highestPack, ...this.#packSizes.keys()) + 1;
    this.#highestPack = pack;
    const path = join(this.#packDir, packFileName(pack));
    await this.#guard(async () => {
      const file = await this.#fs.open(path, 'wx');
      this.#packsDirDirty = true;
      try {
        await file.write(packHeader(pack), 0, PACK_HEADER_SIZE, 0);
      } catch (error) {
        await file.close();
        throw error;
      }
      this.#writer = { pack, file, size: PACK_HEADER_SIZE };
    });
    this.#packSizes.set(pack, PACK_HEADER_SIZE);
    this.#dirty.add(pack);
  }

  /**
   * Reads pack `pack` from `from` (the size the index file covered; the header when unknown)
   * and indexes each whole record. A torn or garbled tail is cut off when writable. Resolves to
   * the pack's size after recovery. The last pack becomes the writer.
   */
  async #scanPack(pack: number, covered: number | undefined): Promise<number> {
    const path = join(this.#packDir, packFileName(pack));
    const file = await this.#fs.open(path, this.#readOnly ? 'r' : 'r+');
    let size = await file.size();
    let offset = covered ?? PACK_HEADER_SIZE;
    const header = Buffer.alloc(PACK_HEADER_SIZE);
    const headerBytes = await file.read(header, 0, PACK_HEADER_SIZE, 0);
    if (size < PACK_HEADER_SIZE && covered === undefined) {
      // Created but killed before its header was whole: nothing was ever stored in it.
      await file.close();
      if (!this.#readOnly) await this.#fs.unlink(path);
      this.recovery.bytesTruncated += size;
      return -1;
    }
    const parsed = parsePackHeader(header.subarray(0, headerBytes));
    if (typeof parsed === 'string' || parsed.pack !== pack) {
      // A header that does not check was never fsynced (every fsync of a pack covers its header),
      // or has rotted since. Either way, set the file aside, deleting nothing: its records read as
      // missing and `check` names what they held.
      await file.close();
      this.#forgetPack(pack);
      this.recovery.packsQuarantined.push(packFileName(pack));
      if (!this.#readOnly) await this.#fs.rename(path, `${path}.damaged`);
      return -1;
    }
    if (parsed.version > PACK_VERSION) {
      await file.close();
      throw fsError('EINVAL', { syscall: 'open', path, detail: `pack format version ${parsed.version} is newer than this cowstack knows (${PACK_VERSION})` });
    }
    if (size < offset) {
      // The pack is shorter than the index file said: forget its entries and read it all.
      this.#forgetPack(pack);
      offset = PACK_HEADER_SIZE;
    }
    try {
      size = await this.#scanRecords(file, pack, offset, size);
    } catch (error) {
      await file.close();
      throw error;
    }
    if (this.#readOnly) {
      await file.close();
    } else {
      if (this.#writer !== undefined) await this.#writer.file.close();
      this.#writer = { pack, file, size };
      this.#packsDirDirty = true;
    }
    return size;
  }

  /** Indexes the records of `pack` from `offset`; resolves to the pack's size after cutting a torn tail. */
  async #scanRecords(file: StoreFile, pack: number, from: number, end: number): Promise<number> {
    let offset = from;
    let size = end;
    while (offset < size) {
      const record = await readRecordAt(file, offset, size);
      if (record !== undefined && record.whole) {
        this.#set(record.header.id, { pack, offset, length: record.header.length, kind: record.header.kind });
        this.recovery.recordsScanned++;
        this.#dirty.add(pack);
        offset += RECORD_HEADER_SIZE + record.header.length;
        continue;
      }
      // A record that does not check. If a good record follows, this one was damaged in place
      // (it stays unindexed: reads and check report it missing); if none does, it is the torn
      // tail of a write that was never acknowledged, and is cut off.
      // From the next byte: a damaged length field must not make us skip good records.
      const next = await findNextRecord(file, offset + 1, size);
      if (next !== undefined) {
        this.recovery.recordsDamaged++;
        offset = next;
        continue;
      }
      this.recovery.bytesTruncated += size - offset;
      if (!this.#readOnly) {
        await file.truncate(offset);
        await file.sync();
      }
      size = offset;
    }
    return size;
  }

  #forgetPack(pack: number): void {
    for (const id of this.#index.idsInPack(pack)) this.#count(this.#index.get(id)!, -1);
    this.#index.deletePack(pack);
  }

  /** fsync(2) of `pack`: through the writer's handle when it is the pack being written, else a read handle. */
  async #syncPack(pack: number): Promise<void> {
    if (pack === this.#writer?.pack) await this.#writer.file.sync();
    else await this.#withReader(pack, (file) => file.sync());
  }

  /**
   * Runs `task` on a read handle of `pack`, which stays open until `task` ends: opened (once, for
   * concurrent callers) or reused, made the most recently used, and counted as in use meanwhile.
   * Rejects with `EBADF` once the store is closed, so `abandon` never misses a handle.
   */
  async #withReader<T>(pack: number, task: (file: StoreFile) => Promise<T>): Promise<T> {
    this.#checkOpen('read');
    let reader = this.#readers.get(pack);
    if (reader === undefined) {
      reader = new PackReader(this.#fs.open(join(this.#packDir, packFileName(pack)), 'r'));
      const opened = reader;
      this.#unclosed.add(opened);
      void opened.closed.then(() => this.#unclosed.delete(opened));
      // A pack that fails to open is not kept: the next read tries again.
      opened.file.catch(() => {
        if (this.#readers.get(pack) === opened) this.#retireReader(pack);
      });
    } else {
      this.#readers.delete(pack);
    }
    this.#readers.set(pack, reader);
    reader.acquire();
    for (const oldest of this.#readers.keys()) {
      if (this.#readers.size <= OPEN_READERS) break;
      this.#retireReader(oldest);
    }
    try {
      return await task(await reader.file);
    } finally {
      reader.release();
    }
  }

  /** Takes the read handle of `pack` out of the LRU: closed now when idle, else when its last user ends. */
  #retireReader(pack: number): void {
    const reader = this.#readers.get(pack);
    if (reader === undefined) return;
    this.#readers.delete(pack);
    reader.retire();
  }

  /** Writes the index file atomically, naming `retired` packs that opening must delete if still there. */
  async #saveIndex(retired: readonly number[]): Promise<void> {
    const coverage = [...this.#packSizes].filter(([pack]) => !retired.includes(pack));
    const encoded = this.#index.encode();
    const head = Buffer.alloc(16 + coverage.length * 12 + retired.length * 4);
    head.writeUInt32LE(INDEX_MAGIC, 0);
    head.writeUInt32LE(INDEX_VERSION, 4);
    head.writeUInt32LE(coverage.length, 8);
    head.writeUInt32LE(retired.length, 12);
    let at = 16;
    for (const [pack, size] of coverage) {
      head.writeUInt32LE(pack, at);
      head.writeDoubleLE(size, at + 4);
      at += 12;
    }
    for (const pack of retired) {
      head.writeUInt32LE(pack, at);
      at += 4;
    }
    await this.#guard(() => writeFileAtomic(this.#fs, this.#dir, 'index', withChecksum(Buffer.concat([head, encoded]))));
    this.#appendedSinceIndex = 0;
  }

  /** Runs a write of the store's own (the catalog) under the same fail-closed rule as pack writes. */
  guardedWrite<T>(task: () => Promise<T>): Promise<T> {
    this.#checkWritable('write');
    return this.#guard(task);
  }

  /** Runs a write or fsync; a failure breaks the store for writing (fail closed), reported as `EIO`. */
  async #guard<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      this.#broken ??= error instanceof Error ? error : new Error(String(error));
      const code = hasCode(error, 'ENOSPC') ? 'ENOSPC' : 'EIO';
      throw fsError(code, { syscall: 'write', detail: `store write failed, the store is now read-only: ${this.#broken.message}`, cause: error });
    }
  }

  #checkOpen(syscall: string): void {
    if (this.#closed) throw fsError('EBADF', { syscall, detail: 'store is closed' });
  }

  /** Throws what a write would reject with now: `EBADF`, `EROFS`, or `EIO` once broken. */
  checkWritable(syscall: string): void {
    this.#checkWritable(syscall);
  }

  #checkWritable(syscall: string): void {
    this.#checkOpen(syscall);
    if (this.#readOnly) throw fsError('EROFS', { syscall });
    if (this.#broken !== undefined) {
      throw fsError('EIO', { syscall, detail: `an earlier write failed, the store is read-only: ${this.#broken.message}`, cause: this.#broken });
    }
  }
}

/**
 * One read handle of a pack, shared by the reads (and fsyncs) using it, which `acquire` and
 * `release` it. Once retired it takes no new users (its store has let go of it), and its file is
 * closed as soon as it has none; `closed` resolves then. It resolves also when the open or the
 * close failed: a read-only handle holds nothing to lose. Each open one holds a file descriptor.
 */
class PackReader {
  readonly file: Promise<StoreFile>;
  readonly closed: Promise<void>;
  #users = 0;
  #retired = false;
  #markClosed!: () => void;

  constructor(file: Promise<StoreFile>) {
    this.file = file;
    this.closed = new Promise((resolve) => (this.#markClosed = resolve));
  }

  acquire(): void {
    this.#users++;
  }

  release(): void {
    this.#users--;
    if (this.#retired && this.#users === 0) this.#close();
  }

  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    if (this.#users === 0) this.#close();
  }

  #close(): void {
    void this.file.then((file) => file.close()).catch(() => undefined).then(this.#markClosed);
  }
}

/** How far `findNextRecord` looks for the next record before calling the rest a torn tail. */
const RESYNC_WINDOW = 1 << 20;

/** The record at `offset`: its header and whether it is whole and checks; undefined when no header parses. */
async function readRecordAt(file: StoreFile, offset: number, size: number): Promise<{ header: RecordHeader; whole: boolean } | undefined> {
  const head = Buffer.alloc(RECORD_HEADER_SIZE);
  const got = await file.read(head, 0, RECORD_HEADER_SIZE, offset);
  const header = parseRecordHeader(head.subarray(0, got));
  if (typeof header === 'string') return undefined;
  if (offset + RECORD_HEADER_SIZE + header.length > size) return { header, whole: false };
  const payload = Buffer.allocUnsafe(header.length);
  await file.read(payload, 0, header.length, offset + RECORD_HEADER_SIZE);
  return { header, whole: recordCrcMatches(head, header, payload) };
}

/**
 * The offset of the first whole, checking record at or after `from` (looking at most a window
 * plus a record past the last good one), or undefined when there is none: then what lies from
 * the damaged record on is a torn tail.
 */
async function findNextRecord(file: StoreFile, from: number, size: number): Promise<number | undefined> {
  const limit = Math.min(size, from + RESYNC_WINDOW + MAX_PAYLOAD + RECORD_HEADER_SIZE);
  const chunk = Buffer.allocUnsafe(1 << 16);
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(RECORD_MAGIC, 0);
  for (let base = from; base < limit; base += chunk.byteLength - 3) {
    const got = await file.read(chunk, 0, Math.min(chunk.byteLength, limit - base), base);
    for (let at = chunk.subarray(0, got).indexOf(magic); at !== -1; at = chunk.subarray(0, got).indexOf(magic, at + 1)) {
      const record = await readRecordAt(file, base + at, size);
      if (record?.whole === true) return base + at;
    }
    if (got < chunk.byteLength) break;
  }
  return undefined;
}

/** Writes `name` in `dir` atomically: a temporary file, fsynced, renamed over, the directory fsynced. */
export async function writeFileAtomic(fs: FileSystem, dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const temporary = join(dir, `${name}.tmp`);
  if (await fs.exists(temporary)) await fs.unlink(temporary);
  const file = await fs.open(temporary, 'wx');
  try {
    await file.write(bytes, 0, bytes.byteLength, 0);
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(temporary, join(dir, name));
  await fs.syncDir(dir);
}

/** The index file, or undefined when it is missing or does not check (the packs are then scanned). */
async function loadIndexFile(fs: FileSystem, path: string): Promise<{ index: BlockIndex; coverage: Map<number, number>; retired: number[] } | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path);
  } catch {
    return undefined;
  }
  // The index is a cache of the packs: one that does not check is rebuilt, never trusted.
  if (bytes.byteLength < 20 || bytes.readUInt32LE(0) !== INDEX_MAGIC) return undefined;
  if (!checksumMatches(bytes)) return undefined;
  const version = bytes.readUInt32LE(4);
  if (version > INDEX_VERSION) {
    throw fsError('EINVAL', { syscall: 'open', path, detail: `index format version ${version} is newer than this cowstack knows (${INDEX_VERSION})` });
  }
  try {
    const coverage = new Map<number, number>();
    const retired: number[] = [];
    const packs = bytes.readUInt32LE(8);
    const retiredCount = bytes.readUInt32LE(12);
    let at = 16;
    for (let i = 0; i < packs; i++, at += 12) coverage.set(bytes.readUInt32LE(at), bytes.readDoubleLE(at + 4));
    for (let i = 0; i < retiredCount; i++, at += 4) retired.push(bytes.readUInt32LE(at));
    return { index: BlockIndex.decode(bytes.subarray(at, bytes.byteLength - 4)), coverage, retired };
  } catch {
    return undefined;
  }
}

/** A record `readMany` was asked for: its index into the ids, and where the pack index had it then. */
interface Located {
  readonly index: number;
  readonly location: RecordLocation | undefined;
}

/**
 * The payload of the record `bytes` holds (read from `location`, possibly short), or what is wrong
 * with it: not a record, not the one the index names, a bad CRC, or (with `verify`) bytes that do
 * not hash to `id`.
 */
function checkRecord(id: BlockId, location: RecordLocation, bytes: Buffer, verify: boolean): Buffer | string {
  const header = parseRecordHeader(bytes);
  const payload = bytes.subarray(RECORD_HEADER_SIZE);
  if (typeof header === 'string') return header;
  if (header.id !== id || header.length !== location.length || payload.byteLength !== location.length) return 'record does not match the index';
  if (!recordCrcMatches(bytes, header, payload)) return 'record checksum does not match';
  if (verify && recordId(header.kind, payload) !== id) return 'bytes do not hash to the id';
  return payload;
}
