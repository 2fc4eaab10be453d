import { Worker } from 'node:worker_threads';
import { blockIdFromDigest, type BlockId } from '../core/BlockId.js';
import { fsError, type CowstackError } from '../core/errors.js';
import type { Hasher } from './Hasher.js';
import { HASH_WORKER_SOURCE, type HashRequest } from './hashWorkerSource.js';

/**
 * Block bytes one slab holds unless the constructor says otherwise: 4 MiB, four of the largest
 * blocks (1 MiB) or 1024 of the smallest (4 KiB). At about 1 GB/s per worker a batch this size takes
 * a few milliseconds to hash, so the cost of one message each way is lost in it, and the main
 * thread's share (one memcpy of the batch) stays well under a millisecond per batch.
 */
export const DEFAULT_SLAB_BYTES = 4 * 1024 * 1024;

/** Most blocks in one batch; with it a slab's tables take 40 bytes per entry, 160 KiB. */
const MAX_BLOCKS_PER_BATCH = 4096;

/**
 * Slabs (so batches in flight) per worker: one it is hashing and one waiting in its queue, so a
 * worker never idles while the main thread fills its next batch.
 */
const SLABS_PER_WORKER = 2;
/**
 * A batch is cut smaller than its slab to give idle workers a share of what waits, but never
 * below this: 256 KiB hash in ~0.2 ms here, about what a message to a worker and back costs.
 */
const MIN_SPREAD_BYTES = 256 * 1024;

export interface WorkerPoolOptions {
  /** Block bytes per slab, so per batch; default `DEFAULT_SLAB_BYTES`. */
  slabBytes?: number;
}

/** Counters for tests and benchmarks. Each is exact: assert on them, never on time. */
export interface HashPoolStats {
  /** Batches formed, one slab each; a batch re-run after its worker died counts once. */
  readonly batches: number;
  /** Times a batch was sent again because its worker died before answering. */
  readonly batchesRerun: number;
  /** Blocks whose digests came back; a re-run block counts once. */
  readonly blocksHashed: number;
  readonly bytesHashed: number;
  /** Workers that exited or failed while the pool was open and were replaced. */
  readonly workersReplaced: number;
  /** Block bytes copied into slabs and not yet answered. */
  readonly inFlightBytes: number;
  /** The largest `inFlightBytes` seen; at most `inFlightLimit` unless a block exceeds a slab. */
  readonly maxInFlightBytes: number;
}

/**
 * Hashes on `threads` worker threads, a batch of many blocks per message.
 *
 * Data path. A batch's blocks are copied once, back to back, into a `SharedArrayBuffer` slab
 * (layout in `hashWorkerSource.ts`); the worker hashes views of the slab and writes the digests
 * into it; the main thread turns them into ids. No block byte is structured-cloned. The copy costs
 * one memcpy of every block on the calling thread (several GB/s, small beside SHA-256); in exchange
 * the caller's buffers are never transferred or detached, slabs are reused rather than allocated
 * per batch, and a batch whose worker dies is re-run from the slab it is still in. Per batch the
 * main thread does O(bytes) memcpy and O(blocks) id conversion, nothing more.
 *
 * Batches and backpressure. The pool owns `SLABS_PER_WORKER × threads` slabs, made on first use and
 * reused. Calls queue their blocks in order; whenever a slab is free it is filled from the head of
 * the queue — across calls, so many small calls share a batch — and posted to the worker with the
 * fewest batches. A large call is split over as many batches as it needs; and while more than one
 * worker idles, a batch takes only its share of what waits (at least `MIN_SPREAD_BYTES`), so a
 * call smaller than a slab (a 1 MiB read's blocks) is hashed by the idle workers side by side
 * rather than by one while the others wait. While every slab is in
 * flight, calls wait in the queue holding only their own arrays, so the pool's memory is bounded
 * whatever the call rate: block bytes in flight never exceed `inFlightLimit` (`slabs × slabBytes`,
 * 8 MiB per worker by default). The one exception is a block larger than `slabBytes` (none is, at
 * the API's 1 MiB block limit): it goes alone in a one-off slab of its own size, in place of one
 * pooled slab until it is answered, so the bound becomes `slabs × largest block`.
 *
 * Worker death. A worker that exits or errors while the pool is open is replaced at once and its
 * unanswered batches are re-run on the replacement from their slabs. A batch is answered once: the
 * answer is taken only from the worker that holds the batch, and a dead worker answers nothing more.
 * If more than `2 × threads` workers die with no batch answered in between, the pool fails closed:
 * waiting and later calls reject with `EIO` (the last worker error as `cause`) and no worker is
 * started again.
 *
 * Process lifetime. A worker is `ref()`'d while it holds a batch and `unref()`'d when it has none,
 * so a pending `hash()` keeps the process alive and an idle pool, closed or not, never does.
 */
export class WorkerPoolHasher implements Hasher {
  readonly threads: number;
  /** Block bytes per pooled slab. */
  readonly slabBytes: number;
  /** The bound on block bytes in flight (see the class comment). */
  readonly inFlightLimit: number;

  #slots: WorkerSlot[] = [];
  /** Calls with blocks not yet in a batch, oldest first, linked through `Call.after`. */
  #first: Call | undefined;
  #last: Call | undefined;
  /** Block bytes of the queued calls not yet in a batch. */
  #queuedBytes = 0;
  /** Pooled slabs made and not in use. At most `SLABS_PER_WORKER × threads` pooled slabs exist. */
  #spareSlabs: Slab[] = [];
  /** Slabs that may still be put in flight. */
  #freePermits: number;
  #nextBatchId = 0;
  #deathsWithoutProgress = 0;
  #closed = false;
  /** Set when the pool failed closed. */
  #brokenBy: unknown;
  #broken = false;
  /** Set once the workers are being terminated; `close()` resolves with it. */
  #stopped: Promise<void> | undefined;
  #stats = {
    batches: 0,
    batchesRerun: 0,
    blocksHashed: 0,
    bytesHashed: 0,
    workersReplaced: 0,
    inFlightBytes: 0,
    maxInFlightBytes: 0,
  };

  constructor(threads: number, options: WorkerPoolOptions = {}) {
    const slabBytes = options.slabBytes ?? DEFAULT_SLAB_BYTES;
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new TypeError(`threads must be a positive integer, not ${threads}`);
    }
    if (!Number.isSafeInteger(slabBytes) || slabBytes < 1) {
      throw new TypeError(`slabBytes must be a positive integer, not ${slabBytes}`);
    }
    this.threads = threads;
    this.slabBytes = slabBytes;
    this.#freePermits = SLABS_PER_WORKER * threads;
    this.inFlightLimit = this.#freePermits * slabBytes;
    for (let i = 0; i < threads; i++) this.#slots.push(this.#spawn());
  }

  async hash(blocks: readonly Uint8Array[]): Promise<BlockId[]> {
    if (this.#closed) throw fsError('EBADF', { syscall: 'hash', detail: 'hasher is closed' });
    if (this.#broken) throw this.#brokenError();
    if (!Array.isArray(blocks)) throw new TypeError('blocks must be an array of Uint8Array');
    const own: Uint8Array[] = [];
    for (const block of blocks) {
      if (!(block instanceof Uint8Array)) throw new TypeError('blocks must be an array of Uint8Array');
      own.push(block);
    }
    if (own.length === 0) return [];
    for (const block of own) this.#queuedBytes += block.byteLength;
    return new Promise((resolve, reject) => {
      const call: Call = {
        blocks: own,
        ids: new Array<BlockId>(own.length),
        next: 0,
        unanswered: own.length,
        after: undefined,
        resolve,
        reject,
      };
      if (this.#last === undefined) this.#first = call;
      else this.#last.after = call;
      this.#last = call;
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    return this.#stop(fsError('EBADF', { syscall: 'hash', detail: 'hasher is closed' }));
  }

  /** A snapshot of the pool's counters. */
  stats(): HashPoolStats {
    return { ...this.#stats };
  }

  /**
   * For tests: terminates the worker holding the most batches, as a crash would, and resolves once
   * the pool has handled its exit (replaced it, or failed closed).
   */
  async terminateOneWorkerForTest(): Promise<void> {
    const victim = this.#slots.reduce((a, b) => (b.batches.size > a.batches.size ? b : a));
    await victim.worker.terminate();
  }

  /** Fills free slabs from the queue and sends them, until one or the other runs out. */
  #pump(): void {
    while (this.#first !== undefined && this.#freePermits > 0) {
      const idle = this.#slots.filter((slot) => slot.batches.size === 0).length;
      const batch = this.#fill(idle > 1 ? Math.max(MIN_SPREAD_BYTES, Math.ceil(this.#queuedBytes / idle)) : Infinity);
      if (batch !== undefined) this.#send(batch, this.#leastBusy());
    }
  }

  /**
   * Takes a slab and copies blocks into it from the head of the queue, up to `share` bytes (one
   * block at least); undefined if none waited.
   */
  #fill(share: number): Batch | undefined {
    this.#freePermits--;
    let slab = this.#spareSlabs.pop() ?? new Slab(this.slabBytes, MAX_BLOCKS_PER_BATCH);
    const parts: Part[] = [];
    let count = 0;
    let used = 0;
    for (let call = this.#first; call !== undefined; call = call.after) {
      const from = call.next;
      while (call.next < call.blocks.length && count < slab.maxBlocks) {
        const block = call.blocks[call.next]!;
        if (count > 0 && used + block.byteLength > share) break;
        if (used + block.byteLength > slab.capacity) {
          if (count > 0) break;
          this.#spareSlabs.push(slab);
          slab = new Slab(block.byteLength, 1);
        }
        slab.data.set(block, used);
        slab.lengths[count++] = block.byteLength;
        used += block.byteLength;
        call.next++;
      }
      if (call.next > from) parts.push({ call, from, count: call.next - from });
      if (call.next < call.blocks.length) break;
      this.#first = call.after;
      if (this.#first === undefined) this.#last = undefined;
    }
    if (count === 0) {
      this.#release(slab);
      return undefined;
    }
    this.#queuedBytes -= used;
    this.#stats.batches++;
    this.#stats.inFlightBytes += used;
    this.#stats.maxInFlightBytes = Math.max(this.#stats.maxInFlightBytes, this.#stats.inFlightBytes);
    return { id: this.#nextBatchId++, slab, count, bytes: used, parts };
  }

  /** Gives back the permit of a batch's slab, and the slab itself unless it was a one-off. */
  #release(slab: Slab): void {
    this.#freePermits++;
    if (slab.capacity === this.slabBytes) this.#spareSlabs.push(slab);
  }

  #leastBusy(): WorkerSlot {
    return this.#slots.reduce((a, b) => (b.batches.size < a.batches.size ? b : a));
  }

  #send(batch: Batch, slot: WorkerSlot): void {
    slot.batches.set(batch.id, batch);
    if (slot.batches.size === 1) slot.worker.ref();
    const request: HashRequest = {
      id: batch.id,
      slab: batch.slab.buffer,
      count: batch.count,
      digestsAt: batch.slab.digestsAt,
      dataAt: batch.slab.dataAt,
    };
    slot.worker.postMessage(request);
  }

  #spawn(): WorkerSlot {
    const worker = new Worker(HASH_WORKER_SOURCE, { eval: true });
    const slot: WorkerSlot = { worker, batches: new Map(), error: undefined };
    worker.on('message', (id: number) => this.#onAnswer(slot, id));
    worker.on('error', (error) => {
      slot.error = error;
    });
    worker.on('exit', () => this.#onExit(slot));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    worker.unref();
    return slot;
  }

  #onAnswer(slot: WorkerSlot, id: number): void {
    const batch = slot.batches.get(id);
    if (batch === undefined) return;
    slot.batches.delete(id);
    if (slot.batches.size === 0) slot.worker.unref();
    this.#deathsWithoutProgress = 0;
    this.#stats.blocksHashed += batch.count;
    this.#stats.bytesHashed += batch.bytes;
    this.#stats.inFlightBytes -= batch.bytes;
    const digests = batch.slab.digests;
    let entry = 0;
    for (const { call, from, count } of batch.parts) {
      for (let i = 0; i < count; i++, entry++) {
        call.ids[from + i] = blockIdFromDigest(digests.subarray(entry * 32, entry * 32 + 32));
      }
      call.unanswered -= count;
      if (call.unanswered === 0) call.resolve(call.ids);
    }
    this.#release(batch.slab);
    this.#pump();
  }

  #onExit(slot: WorkerSlot): void {
    if (this.#stopped !== undefined) return;
    if (++this.#deathsWithoutProgress > 2 * this.threads) {
      this.#broken = true;
      this.#brokenBy = slot.error;
      void this.#stop(this.#brokenError());
      return;
    }
    const replacement = this.#spawn();
    this.#slots[this.#slots.indexOf(slot)] = replacement;
    this.#stats.workersReplaced++;
    for (const batch of slot.batches.values()) {
      this.#stats.batchesRerun++;
      this.#send(batch, replacement);
    }
    slot.batches.clear();
  }

  #brokenError(): CowstackError {
    return fsError('EIO', { syscall: 'hash', detail: 'hash workers keep exiting', cause: this.#brokenBy });
  }

  /** Rejects every call not yet answered with `error` and terminates the workers, once. */
  #stop(error: CowstackError): Promise<void> {
    if (this.#stopped !== undefined) return this.#stopped;
    const calls = new Set<Call>();
    for (let call = this.#first; call !== undefined; call = call.after) calls.add(call);
    for (const slot of this.#slots) {
      for (const batch of slot.batches.values()) for (const part of batch.parts) calls.add(part.call);
      slot.batches.clear();
    }
    this.#first = undefined;
    this.#last = undefined;
    this.#queuedBytes = 0;
    this.#spareSlabs = [];
    for (const call of calls) call.reject(error);
    this.#stopped = Promise.all(this.#slots.map((slot) => slot.worker.terminate())).then(() => undefined);
    return this.#stopped;
  }
}

/**
 * One shared buffer that carries a batch, laid out as `hashWorkerSource.ts` describes. A pooled slab
 * holds `capacity` bytes in up to `maxBlocks` blocks; its memory is
 * `40 × maxBlocks + capacity` bytes (4.16 MiB with the defaults).
 */
class Slab {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly maxBlocks: number;
  readonly digestsAt: number;
  readonly dataAt: number;
  readonly lengths: Float64Array;
  readonly digests: Uint8Array;
  readonly data: Uint8Array;

  constructor(capacity: number, maxBlocks: number) {
    this.capacity = capacity;
    this.maxBlocks = maxBlocks;
    this.digestsAt = 8 * maxBlocks;
    this.dataAt = this.digestsAt + 32 * maxBlocks;
    this.buffer = new SharedArrayBuffer(this.dataAt + capacity);
    this.lengths = new Float64Array(this.buffer, 0, maxBlocks);
    this.digests = new Uint8Array(this.buffer, this.digestsAt, 32 * maxBlocks);
    this.data = new Uint8Array(this.buffer, this.dataAt, capacity);
  }
}

/**
 * A `hash()` call not yet settled. `ids[i]` is set once block `i`'s digest is back. A call is either
 * queued or in a batch in flight until it resolves, and `#stop` empties both before it rejects, so
 * no answer ever reaches a settled call.
 */
interface Call {
  readonly blocks: readonly Uint8Array[];
  readonly ids: BlockId[];
  /** The first block not yet copied into a batch. */
  next: number;
  /** Blocks whose ids are not yet known; the call resolves when it reaches 0. */
  unanswered: number;
  /** The next call in the queue. */
  after: Call | undefined;
  resolve(ids: BlockId[]): void;
  reject(error: unknown): void;
}

/** Blocks `from .. from + count` of `call`, at consecutive entries of a batch. */
interface Part {
  readonly call: Call;
  readonly from: number;
  readonly count: number;
}

/** Blocks copied into a slab and sent together; the parts cover entries `0 .. count` in order. */
interface Batch {
  readonly id: number;
  readonly slab: Slab;
  readonly count: number;
  readonly bytes: number;
  readonly parts: Part[];
}

/** A worker and the batches it holds, by id. */
interface WorkerSlot {
  readonly worker: Worker;
  readonly batches: Map<number, Batch>;
  /** The last error the worker emitted, kept as the cause should the pool fail closed. */
  error: unknown;
}
