import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { BlockId } from '../../core/BlockId.js';
import { fsError, type CowstackError } from '../../core/errors.js';

/** Where one record (a data block or a tree node) lies: `length` payload bytes at `offset` of pack `pack`. */
export interface RecordLocation {
  /** The pack file's number, an integer in [0, 2^32). */
  readonly pack: number;
  /** Byte offset of the record in its pack, an integer in [0, 2^32). */
  readonly offset: number;
  /** Payload bytes, an integer in [0, 2^31). */
  readonly length: number;
  readonly kind: 'block' | 'node';
}

/** How large the buffer of recent inserts may grow before it is merged into the sorted run. */
export interface BlockIndexOptions {
  /** The buffer holds at least this many entries (default 4096). Tests make it tiny to force merges. */
  readonly pendingMin?: number;
  /** …and up to (entries in the sorted run) / `pendingDivisor` when that is more (default 32). */
  readonly pendingDivisor?: number;
}

/** The index file's first four bytes, "CWIX". */
export const INDEX_MAGIC = 'CWIX';
/** The index file format this code writes, and the newest it reads. */
export const INDEX_FORMAT_VERSION = 1;

const ID_BYTES = 32;
/** An entry in memory: the id as eight u32 words, then pack, offset and length-and-kind. */
const ID_WORDS = 8;
const ENTRY_WORDS = 11;
const PACK = 8;
const OFFSET = 9;
const LENGTH_KIND = 10;
/** magic, version, count. */
const HEADER_BYTES = 12;
/** id, pack, offset, length-and-kind. */
const FILE_ENTRY_BYTES = 44;
const CRC_BYTES = 4;
const KIND_NODE = 0x8000_0000;
const MAX_LENGTH = 0x7fff_ffff;
/** The sorted run's capacity after it grows or shrinks, as a multiple of the entries it holds… */
const CAPACITY_SLACK = 9 / 8;
/** …and the multiple beyond which it shrinks after a merge. */
const CAPACITY_SHRINK_AT = 5 / 4;
/** The run gets one fanout bucket for about this many entries (a power of two of them). */
const ENTRIES_PER_BUCKET = 16;
/** Keys the pending buffer's hash per process, so ids chosen to collide cannot make its probes long. */
const SEED = randomBytes(8);
const SEED_A = SEED.readUInt32LE(0);
const SEED_B = SEED.readUInt32LE(4);
/** The value of each lowercase hex digit by char code; -1 for every other code below 128. */
const HEX_VALUE = Int8Array.from({ length: 128 }, (_, code) => '0123456789abcdef'.indexOf(String.fromCharCode(code)));
/** Where an id's words are laid out as bytes to be printed as hex: one native call per id. */
const HEX_SCRATCH = Buffer.alloc(ID_BYTES);
const HEX_VIEW = new DataView(HEX_SCRATCH.buffer, HEX_SCRATCH.byteOffset, ID_BYTES);

/**
 * Index entries of fixed size in one `Uint32Array`, so that moving a stretch of entries is one
 * `copyWithin` and comparing two ids is at most eight integer comparisons.
 *
 * Memory per entry slot, used or not: 11 words = 44 bytes — the id's 32 bytes as eight u32 words
 * each read big-endian (so numeric order, word by word, is the ids' byte order), pack, offset,
 * and the length with the kind in bit 31 — plus 1 bit of `dead`, in whole u32 words.
 */
class EntryTable {
  readonly capacity: number;
  /** Entry i is words [11i, 11i + 11): id words 0–7, pack, offset, lengthKind. */
  readonly words: Uint32Array;
  /** One bit per entry: set when the entry was deleted and awaits the next merge to drop it. */
  readonly dead: Uint32Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.words = new Uint32Array(capacity * ENTRY_WORDS);
    this.dead = new Uint32Array(Math.ceil(capacity / 32));
  }

  get byteLength(): number {
    return this.words.byteLength + this.dead.byteLength;
  }

  isDead(i: number): boolean {
    return (this.dead[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  setDead(i: number, dead: boolean): void {
    if (dead) this.dead[i >>> 5]! |= 1 << (i & 31);
    else this.dead[i >>> 5]! &= ~(1 << (i & 31));
  }

  pack(i: number): number {
    return this.words[i * ENTRY_WORDS + PACK]!;
  }

  setLocation(i: number, pack: number, offset: number, lengthKind: number): void {
    const at = i * ENTRY_WORDS;
    this.words[at + PACK] = pack;
    this.words[at + OFFSET] = offset;
    this.words[at + LENGTH_KIND] = lengthKind;
  }

  location(i: number): RecordLocation {
    const at = i * ENTRY_WORDS;
    const lengthKind = this.words[at + LENGTH_KIND]!;
    return {
      pack: this.words[at + PACK]!,
      offset: this.words[at + OFFSET]!,
      length: lengthKind & MAX_LENGTH,
      kind: lengthKind >= KIND_NODE ? 'node' : 'block',
    };
  }

  /**
   * The id of entry `i` as hex. The cast is sound: the words were parsed from a `BlockId` (or read
   * from a checksummed index file), and 32 bytes printed as lowercase hex are a well-formed id.
   */
  id(i: number): BlockId {
    const at = i * ENTRY_WORDS;
    for (let j = 0; j < ID_WORDS; j++) HEX_VIEW.setUint32(4 * j, this.words[at + j]!);
    return HEX_SCRATCH.toString('hex') as BlockId;
  }

  /** Copies entry `i`'s id words to `to[target…]`. */
  readId(i: number, to: Uint32Array, target: number): void {
    const at = i * ENTRY_WORDS;
    for (let j = 0; j < ID_WORDS; j++) to[target + j] = this.words[at + j]!;
  }

  /** Compares entry `i`'s id with the id in words `key[keyAt…keyAt+7]`. */
  compare(i: number, key: Uint32Array, keyAt: number): number {
    const words = this.words;
    const at = i * ENTRY_WORDS;
    for (let j = 0; j < ID_WORDS; j++) {
      const a = words[at + j]!;
      const b = key[keyAt + j]!;
      if (a !== b) return a < b ? -1 : 1;
    }
    return 0;
  }

  /**
   * Binary search of entries [lo, hi), which must be in id order: the index of the id in
   * `key[keyAt…]`, or `~insertionPoint` (a negative number) when it is not there.
   */
  search(lo: number, hi: number, key: Uint32Array, keyAt: number): number {
    const words = this.words;
    const first = key[keyAt]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const w = words[mid * ENTRY_WORDS]!;
      const c = w !== first ? (w < first ? -1 : 1) : this.compare(mid, key, keyAt);
      if (c < 0) lo = mid + 1;
      else if (c > 0) hi = mid;
      else return mid;
    }
    return ~lo;
  }

  /** Moves entries [start, end) to `target` within this table (the `dead` bits are not moved). */
  move(target: number, start: number, end: number): void {
    this.words.copyWithin(target * ENTRY_WORDS, start * ENTRY_WORDS, end * ENTRY_WORDS);
  }

  /** Copies entries [start, end) of `from` to `target` here (the `dead` bits are not copied). */
  copyRange(from: EntryTable, start: number, end: number, target: number): void {
    if (from === this) this.move(target, start, end);
    else this.words.set(from.words.subarray(start * ENTRY_WORDS, end * ENTRY_WORDS), target * ENTRY_WORDS);
  }

  /** Copies entry `i` of `from` to `target` here. */
  copyEntry(from: EntryTable, i: number, target: number): void {
    const source = from.words;
    const words = this.words;
    const at = i * ENTRY_WORDS;
    const to = target * ENTRY_WORDS;
    for (let j = 0; j < ENTRY_WORDS; j++) words[to + j] = source[at + j]!;
  }
}

/**
 * The in-RAM index of the disk store: record id → `RecordLocation`, in at most 64 bytes of RAM
 * per entry once it holds 131,072 or more (restic's index is the model: fixed-size entries in
 * flat arrays, not one JS object or `Map` slot per entry, which costs 150 bytes and more).
 *
 * Structure:
 * - The **run**: entries sorted by id in an `EntryTable` (44 bytes an entry), found by a fanout
 *   table on the id's leading bits and a binary search within the bucket: O(log n) worst case,
 *   a few cache lines in practice. It has 1–5/4 slots per entry it holds: it grows to 9/8 of what
 *   it must hold, and shrinks back to 9/8 when a merge leaves it more than 5/4.
 * - The **pending buffer**: recent inserts in arrival order (44 bytes a slot) with an
 *   open-addressing hash table over them (a power of two ≥ 2 × its slots, 4 bytes each, so 8–16
 *   bytes per slot; load ≤ 1/2). It has room for about max(`pendingMin`, run length /
 *   `pendingDivisor`) entries, 4096 and 1/32 by default: ~1.9 bytes per run entry.
 * - **Deletion** sets a `dead` bit (the entry stays until the next merge); replacing a location
 *   writes it in place, wherever the id is.
 * - A **merge** runs when the pending buffer is full, when the run holds more dead entries than
 *   the pending buffer has slots, and before `entries()` and `encode()`. It drops the dead entries,
 *   sorts the pending ones and merges them into the run from its end, moving each stretch of the
 *   run once (one `copyWithin`): O(n + p log p), amortized `pendingDivisor` moved entries per
 *   insert, in place unless the run must grow or shrink.
 *
 * Why not a hash table for everything: at a load that keeps probes short, its slots cost more
 * than the budget allows once doubling leaves it half empty; and the sorted run *is* the index
 * file's entry order, so opening a store reads the file straight into the run with no sort or
 * rehash.
 *
 * Invariants: an id is in the run or in the pending buffer, never in both (dead entries
 * included: setting a dead id revives its entry where it is); the run is strictly in id order;
 * the run holds at most as many dead entries as the pending buffer has slots.
 *
 * Memory per live entry, once the run holds ≥ 32 × 4096 = 131,072 entries (below that the pending
 * buffer's fixed 4096 slots, ~240 KiB, dominate):
 * - while the index grows: 44 × (1 to 9/8) for the run + 1/8 for its dead bits + ≤ 1/4 for the
 *   fanout + ~1.9 for the pending buffer = 46–52 bytes (46.4 measured at 1M random inserts);
 * - at worst, at any moment: a run of 5/4 slots per entry (55.2), a pending buffer kept at twice its
 *   target after the run shrank (3.8), the fanout (0.25), over live entries that may be as few as
 *   15/16 of the run (dead ones are bounded by the pending buffer's slots): 63.2 bytes.
 * A merge that resizes the run briefly holds the old and the new run together (~94 bytes an
 * entry for that moment).
 *
 * Ids are taken and returned as hex `BlockId`s: a call decodes the hex into one reused scratch
 * array, so a look-up allocates only the `RecordLocation` it returns.
 */
export class BlockIndex {
  #run: EntryTable;
  #runLength = 0;
  #runDead = 0;
  #pending: EntryTable;
  #pendingLength = 0;
  #pendingDead = 0;
  /** Pending hash table: slot → pending index + 1, 0 when empty. 4 bytes a slot, 2–4 slots per pending entry. */
  #slots: Int32Array;
  /**
   * The run's fanout: the entries whose id begins with the `#fanoutBits` bits b lie in
   * [fanout[b], fanout[b + 1]). One u32 per 16–32 entries: ≤ 0.25 bytes an entry.
   */
  #fanout = new Uint32Array(2);
  #fanoutBits = 0;
  /** Bumped by every merge: iterators find their place again by id when it changed under them. */
  #epoch = 0;
  readonly #pendingMin: number;
  readonly #pendingDivisor: number;
  /** The id of the call in progress, decoded from hex into eight big-endian words. */
  readonly #key = new Uint32Array(ID_WORDS);

  constructor(options: BlockIndexOptions = {}) {
    this.#pendingMin = positiveInteger(options.pendingMin ?? 4096, 'pendingMin');
    this.#pendingDivisor = positiveInteger(options.pendingDivisor ?? 32, 'pendingDivisor');
    this.#run = new EntryTable(0);
    this.#pending = new EntryTable(this.#pendingMin);
    this.#slots = new Int32Array(slotCount(this.#pendingMin));
  }

  /** Live entries. */
  get size(): number {
    return this.#runLength - this.#runDead + this.#pendingLength - this.#pendingDead;
  }

  get(id: BlockId): RecordLocation | undefined {
    this.#parse(id);
    const i = this.#searchRun(this.#key, 0);
    if (i >= 0) return this.#run.isDead(i) ? undefined : this.#run.location(i);
    const j = this.#slots[this.#probe()]! - 1;
    return j < 0 || this.#pending.isDead(j) ? undefined : this.#pending.location(j);
  }

  has(id: BlockId): boolean {
    this.#parse(id);
    const i = this.#searchRun(this.#key, 0);
    if (i >= 0) return !this.#run.isDead(i);
    const j = this.#slots[this.#probe()]! - 1;
    return j >= 0 && !this.#pending.isDead(j);
  }

  /** Adds `id`, or replaces its location (the collector moves records between packs). */
  set(id: BlockId, location: RecordLocation): void {
    const lengthKind = lengthKindOf(location);
    this.#parse(id);
    const { pack, offset } = location;
    const run = this.#run;
    const i = this.#searchRun(this.#key, 0);
    if (i >= 0) {
      run.setLocation(i, pack, offset, lengthKind);
      if (run.isDead(i)) {
        run.setDead(i, false);
        this.#runDead--;
      }
      return;
    }
    const pending = this.#pending;
    const slot = this.#probe();
    const existing = this.#slots[slot]! - 1;
    if (existing >= 0) {
      pending.setLocation(existing, pack, offset, lengthKind);
      if (pending.isDead(existing)) {
        pending.setDead(existing, false);
        this.#pendingDead--;
      }
      return;
    }
    const j = this.#pendingLength++;
    pending.words.set(this.#key, j * ENTRY_WORDS);
    pending.setLocation(j, pack, offset, lengthKind);
    this.#slots[slot] = j + 1;
    if (this.#pendingLength === pending.capacity) this.#merge();
  }

  /** Removes `id`; false when it was not there. */
  delete(id: BlockId): boolean {
    this.#parse(id);
    const i = this.#searchRun(this.#key, 0);
    if (i >= 0) {
      if (this.#run.isDead(i)) return false;
      this.#run.setDead(i, true);
      if (++this.#runDead > this.#pending.capacity) this.#merge();
      return true;
    }
    const j = this.#slots[this.#probe()]! - 1;
    if (j < 0 || this.#pending.isDead(j)) return false;
    this.#pending.setDead(j, true);
    this.#pendingDead++;
    return true;
  }

  /**
   * Every live entry, in id order. The index may change while an iterator is open: entries
   * deleted before the iterator reaches them are skipped, replaced locations are seen if not yet
   * passed, each entry is yielded at most once, and entries added meanwhile may or may not be.
   */
  entries(): IterableIterator<[BlockId, RecordLocation]> {
    if (this.#pendingLength > this.#pendingDead) this.#merge();
    return this.#iterate();
  }

  /** The ids of the live entries in pack `pack`, in no particular order. O(n): a scan. */
  idsInPack(pack: number): BlockId[] {
    checkU32(pack, 'pack');
    const ids: BlockId[] = [];
    for (const [table, length] of [[this.#run, this.#runLength], [this.#pending, this.#pendingLength]] as const) {
      for (let i = 0; i < length; i++) if (table.pack(i) === pack && !table.isDead(i)) ids.push(table.id(i));
    }
    return ids;
  }

  /** Deletes every entry in pack `pack`; returns how many there were. O(n): a scan. */
  deletePack(pack: number): number {
    checkU32(pack, 'pack');
    const fromRun = killPack(this.#run, this.#runLength, pack);
    const fromPending = killPack(this.#pending, this.#pendingLength, pack);
    this.#runDead += fromRun;
    this.#pendingDead += fromPending;
    if (this.#runDead > this.#pending.capacity) this.#merge();
    return fromRun + fromPending;
  }

  /** Bytes of the typed arrays this index holds, used slots and spare ones alike. */
  memoryBytes(): number {
    return this.#run.byteLength + this.#fanout.byteLength + this.#pending.byteLength + this.#slots.byteLength + this.#key.byteLength;
  }

  /**
   * The index file (the format is in design.md):
   *
   *     magic "CWIX" | version u32 | count u32 | count × entry | crc32 u32
   *     entry = id[32] | pack u32 | offset u32 | lengthKind u32
   *
   * Integers are little-endian; entries are in strictly ascending id order, so that `decode`
   * takes them as its sorted run without sorting; bit 31 of lengthKind is set for a node; the
   * CRC-32 (IEEE, as zlib) covers every byte before it.
   */
  encode(): Uint8Array {
    if (this.#pendingLength > 0 || this.#runDead > 0) this.#merge();
    const words = this.#run.words;
    const count = this.#runLength;
    const out = Buffer.alloc(HEADER_BYTES + count * FILE_ENTRY_BYTES + CRC_BYTES);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    out.write(INDEX_MAGIC, 0, 'latin1');
    view.setUint32(4, INDEX_FORMAT_VERSION, true);
    view.setUint32(8, count, true);
    let at = HEADER_BYTES;
    for (let w = 0; w < count * ENTRY_WORDS; w += ENTRY_WORDS, at += FILE_ENTRY_BYTES) {
      for (let j = 0; j < ID_WORDS; j++) view.setUint32(at + 4 * j, words[w + j]!);
      view.setUint32(at + 32, words[w + PACK]!, true);
      view.setUint32(at + 36, words[w + OFFSET]!, true);
      view.setUint32(at + 40, words[w + LENGTH_KIND]!, true);
    }
    view.setUint32(at, crc32(out.subarray(0, at)), true);
    return out;
  }

  /**
   * Reads an index file written by `encode`. Every version of the format begins with the magic
   * and a u32 version and ends with a CRC-32 of all the bytes before it, so the checksum is checked
   * before the version: a damaged file is `EINTEGRITY`, whatever byte was hit.
   *
   * Rejects with `EINTEGRITY` a bad magic, a checksum mismatch, a truncated or overlong file and
   * entries out of order; with `EINVAL` a sound file of a version newer than `INDEX_FORMAT_VERSION`.
   */
  static decode(bytes: Uint8Array, options: BlockIndexOptions = {}): BlockIndex {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.length < 8 || buf.toString('latin1', 0, 4) !== INDEX_MAGIC) throw damaged('does not begin with the magic "CWIX"');
    if (buf.length < HEADER_BYTES + CRC_BYTES) throw damaged(`is truncated (${buf.length} bytes)`);
    const end = buf.length - CRC_BYTES;
    if (crc32(buf.subarray(0, end)) !== view.getUint32(end, true)) throw damaged('fails its CRC-32 check');
    const version = view.getUint32(4, true);
    if (version > INDEX_FORMAT_VERSION) {
      throw fsError('EINVAL', { detail: `index format version ${version} is newer than this cowstack knows (${INDEX_FORMAT_VERSION})` });
    }
    if (version !== INDEX_FORMAT_VERSION) throw damaged(`has version ${version}, which was never written`);
    const count = view.getUint32(8, true);
    if (end !== HEADER_BYTES + count * FILE_ENTRY_BYTES) throw damaged(`holds ${end - HEADER_BYTES} bytes of entries, not ${count} × ${FILE_ENTRY_BYTES}`);

    const index = new BlockIndex(options);
    const run = new EntryTable(count);
    const words = run.words;
    let at = HEADER_BYTES;
    for (let i = 0, w = 0; i < count; i++, w += ENTRY_WORDS, at += FILE_ENTRY_BYTES) {
      for (let j = 0; j < ID_WORDS; j++) words[w + j] = view.getUint32(at + 4 * j);
      words[w + PACK] = view.getUint32(at + 32, true);
      words[w + OFFSET] = view.getUint32(at + 36, true);
      words[w + LENGTH_KIND] = view.getUint32(at + 40, true);
      if (i > 0 && run.compare(i - 1, words, w) >= 0) throw damaged(`has entry ${i} out of id order`);
    }
    index.#run = run;
    index.#runLength = count;
    index.#buildFanout();
    index.#resetPending();
    return index;
  }

  /** Decodes `id` into `#key`; a string that is not a (lowercase hex) id is a `TypeError`. */
  #parse(id: BlockId): void {
    if (typeof id !== 'string' || id.length !== 2 * ID_BYTES) throw notAnId(id);
    const key = this.#key;
    for (let j = 0; j < ID_WORDS; j++) {
      let word = 0;
      for (let c = 8 * j; c < 8 * j + 8; c++) {
        const code = id.charCodeAt(c);
        const digit = code < 128 ? HEX_VALUE[code]! : -1;
        if (digit < 0) throw notAnId(id);
        word = (word << 4) | digit;
      }
      key[j] = word;
    }
  }

  /** Looks an id up in the run, within its fanout bucket: its index, or ~(where it would go). */
  #searchRun(key: Uint32Array, keyAt: number): number {
    const bucket = this.#fanoutBits === 0 ? 0 : key[keyAt]! >>> (32 - this.#fanoutBits);
    return this.#run.search(this.#fanout[bucket]!, this.#fanout[bucket + 1]!, key, keyAt);
  }

  /** Rebuilds `#fanout` for the run as it now is. */
  #buildFanout(): void {
    const length = this.#runLength;
    const bits = Math.min(24, Math.max(0, Math.floor(Math.log2(length / ENTRIES_PER_BUCKET))));
    const buckets = 2 ** bits;
    const fanout = bits === this.#fanoutBits ? this.#fanout : new Uint32Array(buckets + 1);
    const words = this.#run.words;
    fanout[0] = 0;
    let bucket = 1;
    if (bits > 0) {
      const shift = 32 - bits;
      for (let i = 0; i < length; i++) {
        const top = words[i * ENTRY_WORDS]! >>> shift;
        while (bucket <= top) fanout[bucket++] = i;
      }
    }
    while (bucket <= buckets) fanout[bucket++] = length;
    this.#fanout = fanout;
    this.#fanoutBits = bits;
  }

  /** The hash-table slot that holds the id in `#key`, or the empty slot where it would go. */
  #probe(): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    const key = this.#key;
    const pending = this.#pending;
    const h = mix(mix(key[0]! ^ SEED_A) ^ key[1]! ^ SEED_B);
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const j = slots[slot]! - 1;
      if (j < 0 || pending.compare(j, key, 0) === 0) return slot;
    }
  }

  /**
   * Drops dead entries and merges the live pending ones into the run, resizing it when it is too
   * small or too large; then empties the pending buffer, sized for the new run.
   */
  #merge(): void {
    const pending = this.#pending;
    const pendingWords = pending.words;
    const order = new Uint32Array(this.#pendingLength - this.#pendingDead);
    for (let j = 0, k = 0; j < this.#pendingLength; j++) if (!pending.isDead(j)) order[k++] = j;
    order.sort((a, b) => pending.compare(a, pendingWords, b * ENTRY_WORDS));

    const live = this.#runLength - this.#runDead;
    const total = live + order.length;
    const old = this.#run;
    let capacity = old.capacity;
    if (total > capacity || capacity > total * CAPACITY_SHRINK_AT) capacity = Math.ceil(total * CAPACITY_SLACK);
    const run = capacity === old.capacity ? old : new EntryTable(capacity);
    if (this.#runDead === 0) {
      if (run !== old) run.copyRange(old, 0, live, 0);
    } else {
      let to = 0;
      for (let i = 0; i < this.#runLength; ) {
        while (i < this.#runLength && old.isDead(i)) i++;
        const start = i;
        while (i < this.#runLength && !old.isDead(i)) i++;
        if (i > start && (run !== old || start !== to)) run.copyRange(old, start, i, to);
        to += i - start;
      }
      if (run === old) run.dead.fill(0);
    }

    // From the end: each pending entry goes after the run entries above it, moved up once. The
    // place is found by galloping down from the last one (pending ids are ~n/p run entries apart).
    let end = live;
    for (let k = order.length - 1; k >= 0; k--) {
      const j = order[k]!;
      const keyAt = j * ENTRY_WORDS;
      let high = end;
      let step = 1;
      while (end - step > 0 && run.compare(end - step, pendingWords, keyAt) > 0) {
        high = end - step;
        step *= 2;
      }
      const at = ~run.search(Math.max(0, end - step), high, pendingWords, keyAt);
      if (at < end) run.move(at + k + 1, at, end);
      run.copyEntry(pending, j, at + k);
      end = at;
    }

    this.#run = run;
    this.#runLength = total;
    this.#runDead = 0;
    this.#buildFanout();
    this.#resetPending();
    this.#epoch++;
  }

  /**
   * Empties the pending buffer, with room for max(pendingMin, run length / pendingDivisor) entries:
   * reallocated only when that is over 9/8 or under 1/2 of its room, since fresh memory costs
   * page faults (the room lags at most 1/9 behind the target while the run grows).
   */
  #resetPending(): void {
    const target = Math.max(this.#pendingMin, Math.floor(this.#runLength / this.#pendingDivisor));
    const capacity = this.#pending.capacity;
    if (target > capacity * CAPACITY_SLACK || target < capacity / 2) {
      this.#pending = new EntryTable(target);
      this.#slots = new Int32Array(slotCount(target));
    } else {
      this.#pending.dead.fill(0);
      this.#slots.fill(0);
    }
    this.#pendingLength = 0;
    this.#pendingDead = 0;
  }

  *#iterate(): Generator<[BlockId, RecordLocation], undefined, undefined> {
    /** The last id yielded, to find the place again after a merge. */
    const last = new Uint32Array(ID_WORDS);
    let started = false;
    let epoch = this.#epoch;
    let i = 0;
    for (;;) {
      if (epoch !== this.#epoch) {
        epoch = this.#epoch;
        const found = started ? this.#searchRun(last, 0) : -1;
        i = found >= 0 ? found + 1 : started ? ~found : 0;
      }
      const run = this.#run;
      while (i < this.#runLength && run.isDead(i)) i++;
      if (i >= this.#runLength) return undefined;
      run.readId(i, last, 0);
      started = true;
      const entry: [BlockId, RecordLocation] = [run.id(i), run.location(i)];
      i++;
      yield entry;
    }
  }
}

/** Marks dead the live entries among the first `length` of `table` that lie in `pack`; returns how many. */
function killPack(table: EntryTable, length: number, pack: number): number {
  let killed = 0;
  for (let i = 0; i < length; i++) {
    if (table.pack(i) === pack && !table.isDead(i)) {
      table.setDead(i, true);
      killed++;
    }
  }
  return killed;
}

/** Validates a location and packs its length and kind into one u32. */
function lengthKindOf(location: RecordLocation): number {
  if (typeof location !== 'object' || location === null) throw new TypeError('a record location is an object');
  const { pack, offset, length, kind } = location;
  checkU32(pack, 'pack');
  checkU32(offset, 'offset');
  if (!Number.isInteger(length) || length < 0 || length > MAX_LENGTH) throw new TypeError(`length must be an integer in [0, 2^31), not ${length}`);
  if (kind !== 'block' && kind !== 'node') throw new TypeError(`kind must be 'block' or 'node', not ${String(kind)}`);
  return kind === 'node' ? (length | KIND_NODE) >>> 0 : length;
}

function checkU32(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new TypeError(`${name} must be an integer in [0, 2^32), not ${value}`);
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer, not ${value}`);
  return value;
}

/** The power of two at least twice `capacity`: the hash table stays at most half full. */
function slotCount(capacity: number): number {
  return 2 ** Math.ceil(Math.log2(2 * capacity));
}

/** murmur3's 32-bit finalizer. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function notAnId(id: unknown): TypeError {
  return new TypeError(`not a block id: ${typeof id === 'string' ? JSON.stringify(id) : typeof id}`);
}

function damaged(what: string): CowstackError {
  return fsError('EINTEGRITY', { detail: `index file ${what}` });
}
