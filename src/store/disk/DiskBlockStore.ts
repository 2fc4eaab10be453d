import type { BlockId } from '../../core/BlockId.js';
import type { BlockRef } from '../../core/BlockVector.js';
import { fsError } from '../../core/errors.js';
import type { Hasher } from '../../hashing/Hasher.js';
import type { BlockProblem, BlockStore, BlockStoreStats } from '../BlockStore.js';
import { isZeroBlock } from '../isZeroBlock.js';
import type { PackStore } from './PackStore.js';

/**
 * Data blocks in pack files (the `BlockStore` of a durable store). A stored block is a `block`
 * record of the pack store; `put` hashes on the hasher (worker threads) and appends only blocks
 * the index does not have. With `verifyReads`, every block read is re-hashed on the hasher and a
 * mismatch rejects with `EINTEGRITY`; the record's CRC is checked on every read regardless.
 */
export class DiskBlockStore implements BlockStore {
  readonly blockSize: number;
  readonly #packs: PackStore;
  readonly #hasher: Hasher;
  readonly #verifyReads: boolean;

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
    const bytes = await this.#packs.read(id, false);
    if (this.#verifyReads) {
      const [actual] = await this.#hasher.hash([bytes]);
      if (actual !== id) throw fsError('EINTEGRITY', { syscall: 'read', detail: `block ${id} hashes to ${actual}` });
    }
    return bytes;
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
