import type { BlockId } from '../core/BlockId.js';
import type { BlockRef } from '../core/BlockVector.js';
import { fsError } from '../core/errors.js';
import type { Hasher } from '../hashing/Hasher.js';
import type { BlockProblem, BlockStore, BlockStoreStats } from './BlockStore.js';
import { isZeroBlock } from './isZeroBlock.js';

/**
 * Blocks in process memory: a `Map` from id to a private copy of the bytes. Memory per block:
 * the bytes, plus ~80 bytes for the id string and ~100 for the `Buffer` and map slot.
 */
export class MemoryBlockStore implements BlockStore {
  readonly blockSize: number;
  readonly #hasher: Hasher;
  readonly #blocks = new Map<BlockId, Buffer>();
  #bytes = 0;
  #closed = false;

  constructor(blockSize: number, hasher: Hasher) {
    this.blockSize = blockSize;
    this.#hasher = hasher;
  }

  async put(blocks: readonly Uint8Array[]): Promise<BlockRef[]> {
    this.#checkOpen('put');
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
    this.#checkOpen('put');
    blocks.forEach((block, i) => {
      const id = ids[i]!;
      if (this.#blocks.has(id)) return;
      this.#blocks.set(id, Buffer.from(block));
      this.#bytes += block.byteLength;
    });
  }

  async get(id: BlockId): Promise<Uint8Array> {
    this.#checkOpen('read');
    const bytes = this.#blocks.get(id);
    if (bytes === undefined) throw fsError('EINTEGRITY', { syscall: 'read', detail: `block ${id} is missing` });
    return bytes;
  }

  has(id: BlockId): boolean {
    return this.#blocks.has(id);
  }

  sizeOf(id: BlockId): number {
    return this.#blocks.get(id)?.byteLength ?? 0;
  }

  async delete(ids: Iterable<BlockId>): Promise<BlockStoreStats> {
    this.#checkOpen('delete');
    let blocks = 0;
    let bytes = 0;
    for (const id of ids) {
      const data = this.#blocks.get(id);
      if (data === undefined) continue;
      this.#blocks.delete(id);
      blocks++;
      bytes += data.byteLength;
    }
    this.#bytes -= bytes;
    return { blocks, bytes };
  }

  ids(): Iterable<BlockId> {
    return [...this.#blocks.keys()];
  }

  stats(): BlockStoreStats {
    return { blocks: this.#blocks.size, bytes: this.#bytes };
  }

  async verify(onProgress?: (done: number, total: number) => void): Promise<BlockProblem[]> {
    this.#checkOpen('check');
    const entries = [...this.#blocks];
    const problems: BlockProblem[] = [];
    const batch = 256;
    for (let i = 0; i < entries.length; i += batch) {
      const slice = entries.slice(i, i + batch);
      const ids = await this.#hasher.hash(slice.map(([, bytes]) => bytes));
      slice.forEach(([id], k) => {
        if (ids[k] !== id) problems.push({ id, code: 'EINTEGRITY', message: `block ${id} hashes to ${ids[k]}` });
      });
      onProgress?.(Math.min(i + batch, entries.length), entries.length);
    }
    return problems;
  }

  checkWritable(syscall: string): void {
    this.#checkOpen(syscall);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #checkOpen(syscall: string): void {
    if (this.#closed) throw fsError('EBADF', { syscall, detail: 'store is closed' });
  }
}
