import type { BlockId } from '../../core/BlockId.js';
import type { BlockRef } from '../../core/BlockVector.js';
import { fsError } from '../../core/errors.js';
import type { Hasher } from '../../hashing/Hasher.js';
import type { BlockProblem, BlockStore, BlockStoreStats } from '../BlockStore.js';
import { isZeroBlock } from '../isZeroBlock.js';
import { TurnBatch, type Waiting } from '../TurnBatch.js';
import type { PackStore } from './PackStore.js';

/** A `get` waiting for its block. */
type PendingGet = Waiting<BlockId, Uint8Array>;

/**
 * Data blocks in pack files (the `BlockStore` of a durable store). A stored block is a `block`
 * record of the pack store; `put` hashes on the hasher (worker threads) and appends only blocks
 * the index does not have. With `verifyReads`, every block read is re-hashed on the hasher and a
 * mismatch rejects with `EINTEGRITY`; the record's CRC is checked on every read regardless.
 *
 * `get`s made in one turn of the event loop (a read asks for all its blocks at once) go to the
 * packs together (`TurnBatch`, `PackStore.readMany`): blocks side by side in a pack are read with one `pread`
 * and checked with one hasher call, and each `get` resolves as the read holding it ends.
 */
export class DiskBlockStore implements BlockStore {
  readonly blockSize: number;
  readonly #packs: PackStore;
  readonly #hasher: Hasher;
  readonly #verifyReads: boolean;
  /** `get`s not yet handed to the packs. */
  readonly #gets = new TurnBatch<BlockId, Uint8Array>((gets) => void this.#readGets(gets));

  constructor(blockSize: number, packs: PackStore, hasher: Hasher, verifyReads: boolean) {
    this.blockSize = blockSize;
    this.#packs = packs;
    this.#hasher = hasher;
    this.#verifyReads = verifyReads;
  }

  async put(blocks: readonly Uint8Array[]): Promise<BlockRef[]> {
    for (const block of blocks) {
      if (block.byteLength > this.blockSize) throw new RangeError(`block of ${block.byteLength} bytes exceeds blockSize ${this.blockSize}`);
    }
    const data = blocks.filter((block) => !isZeroBlock(block));
    const ids = await this.#hasher.hash(data);
    await this.putHashed(data, ids);
    let next = 0;
    return blocks.map((block) => (data[next] === block ? ids[next++]! : null));
  }

  async putHashed(blocks: readonly Uint8Array[], ids: readonly BlockId[]): Promise<void> {
    await this.#packs.append(blocks.map((payload, i) => ({ kind: 'block', id: ids[i]!, payload })));
  }

  async get(id: BlockId): Promise<Uint8Array> {
    const location = this.#packs.location(id);
    if (location !== undefined && location.kind !== 'block') throw fsError('EINTEGRITY', { syscall: 'read', detail: `record ${id} is not a data block` });
    return this.#gets.request(id);
  }

  /** Reads the `get`s of one turn; with `verifyReads`, each joined read's blocks are hashed in one call. */
  async #readGets(gets: readonly PendingGet[]): Promise<void> {
    const checks: Promise<void>[] = [];
    const read = this.#packs.readMany(gets.map((get) => get.key), false, (answers) => {
      const good: number[] = [];
      for (const [index, answer] of answers) {
        if (answer instanceof Error) gets[index]!.reject(answer);
        else if (this.#verifyReads) good.push(index);
        else gets[index]!.resolve(answer);
      }
      if (good.length > 0) checks.push(this.#checkAndResolve(good.map((index) => gets[index]!), good.map((index) => answers.get(index) as Buffer)));
    });
    await read.catch((error: unknown) => {
      for (const get of gets) get.reject(error); // settled ones ignore it
    });
    await Promise.all(checks);
  }

  /** Hashes `blocks` (one call: the pool spreads it over idle workers) and resolves each `get` whose block hashes to its id; the others reject with `EINTEGRITY`. */
  async #checkAndResolve(gets: readonly PendingGet[], blocks: readonly Buffer[]): Promise<void> {
    let actual: BlockId[];
    try {
      actual = await this.#hasher.hash(blocks);
    } catch (error) {
      for (const get of gets) get.reject(error);
      return;
    }
    gets.forEach((get, i) => {
      if (actual[i] === get.key) get.resolve(blocks[i]!);
      else get.reject(fsError('EINTEGRITY', { syscall: 'read', detail: `block ${get.key} hashes to ${actual[i]}` }));
    });
  }

  has(id: BlockId): boolean {
    return this.#packs.location(id)?.kind === 'block';
  }

  sizeOf(id: BlockId): number {
    const location = this.#packs.location(id);
    return location?.kind === 'block' ? location.length : 0;
  }

  async delete(ids: Iterable<BlockId>): Promise<BlockStoreStats> {
    const freed = this.#packs.delete([...ids].filter((id) => this.has(id)));
    return { blocks: freed.count, bytes: freed.bytes };
  }

  ids(): Iterable<BlockId> {
    return [...this.#packs.ids('block')];
  }

  stats(): BlockStoreStats {
    const { count, bytes } = this.#packs.stats('block');
    return { blocks: count, bytes };
  }

  async verify(onProgress?: (done: number, total: number) => void): Promise<BlockProblem[]> {
    const problems: BlockProblem[] = [];
    const total = this.#packs.stats('block').count;
    let done = 0;
    await this.#packs.verifyAll('block', (id, damage) => {
      if (damage !== undefined) problems.push({ id, code: 'EINTEGRITY', message: damage });
      onProgress?.(++done, total);
    });
    return problems;
  }

  checkWritable(syscall: string): void {
    this.#packs.checkWritable(syscall);
  }

  async close(): Promise<void> {
    await this.#packs.close();
  }
}
