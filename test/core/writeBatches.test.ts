import { describe, expect, it } from 'vitest';
import { EMPTY_VECTOR, type BlockRef } from '../../src/core/BlockVector.js';
import type { FileEntry } from '../../src/core/Entry.js';
import { InlineHasher } from '../../src/hashing/InlineHasher.js';
import { readRange, replaceContent, WRITE_BATCH_BYTES, writeRange } from '../../src/layer/fileContent.js';
import { MemoryBlockStore } from '../../src/store/MemoryBlockStore.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A memory store that records the bytes of every `put`, and the most `put`s running at once. */
class RecordingStore extends MemoryBlockStore {
  readonly putBytes: number[] = [];
  running = 0;
  maxRunning = 0;
  /** The 0-based `put` call that rejects, if any. */
  failAt: number | undefined;

  override async put(blocks: readonly Uint8Array[]): Promise<BlockRef[]> {
    const call = this.putBytes.push(blocks.reduce((sum, block) => sum + block.byteLength, 0)) - 1;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      const refs = await super.put(blocks);
      if (call === this.failAt) throw Object.assign(new Error('injected put failure'), { code: 'EIO' });
      return refs;
    } finally {
      this.running--;
    }
  }
}

function emptyFile(): FileEntry {
  return { type: 'file', ino: 2, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0, ctimeMs: 0, size: 0, blocks: EMPTY_VECTOR };
}

/** Non-repeating bytes (xorshift32: no block repeats or is all zeros), from a fixed seed. */
function data(bytes: number): Buffer {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  let x = 0x5eed;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, bytes);
}

describe('large writes are stored in batches bounded by bytes', () => {
  it.each([4 * KiB, 64 * KiB, MiB])('%i-byte blocks: every put holds at most WRITE_BATCH_BYTES, and the batches are full', async (blockSize) => {
    const store = new RecordingStore(blockSize, new InlineHasher());
    const bytes = 3 * WRITE_BATCH_BYTES + blockSize + 100;
    const content = data(bytes);
    const file = await replaceContent(store, emptyFile(), content, 1);
    expect(Math.max(...store.putBytes)).toBeLessThanOrEqual(WRITE_BATCH_BYTES);
    expect(store.putBytes).toHaveLength(Math.ceil(bytes / WRITE_BATCH_BYTES));
    expect(store.putBytes.reduce((sum, n) => sum + n, 0)).toBe(bytes);
    expect(file.size).toBe(bytes);
    expect((await readRange(store, file, 0, bytes)).equals(content)).toBe(true);
  });

  it('a write into the middle of a file puts only the blocks it touches, in bounded batches', async () => {
    const store = new RecordingStore(64 * KiB, new InlineHasher());
    const base = data(3 * WRITE_BATCH_BYTES);
    const file = await replaceContent(store, emptyFile(), base, 1);
    store.putBytes.length = 0;
    const patch = Buffer.alloc(WRITE_BATCH_BYTES + 64 * KiB, 0xab);
    const written = await writeRange(store, file, 1000, patch, 2);
    expect(Math.max(...store.putBytes)).toBeLessThanOrEqual(WRITE_BATCH_BYTES);
    // Blocks 0 up to the one holding the patch's last byte, each whole (the file goes on past it).
    const touched = Math.floor((1000 + patch.byteLength - 1) / (64 * KiB)) + 1;
    expect(store.putBytes.reduce((sum, n) => sum + n, 0)).toBe(touched * 64 * KiB);
    const expected = Buffer.from(base);
    patch.copy(expected, 1000);
    expect((await readRange(store, written, 0, expected.byteLength)).equals(expected)).toBe(true);
  });

  it('puts one batch at a time', async () => {
    const store = new RecordingStore(64 * KiB, new InlineHasher());
    await replaceContent(store, emptyFile(), data(3 * WRITE_BATCH_BYTES), 1);
    expect(store.putBytes).toEqual([WRITE_BATCH_BYTES, WRITE_BATCH_BYTES, WRITE_BATCH_BYTES]);
    expect(store.maxRunning).toBe(1);
  });

  it('a failed put rejects the write, and no later batch is put', async () => {
    const store = new RecordingStore(64 * KiB, new InlineHasher());
    store.failAt = 1;
    await expect(replaceContent(store, emptyFile(), data(3 * WRITE_BATCH_BYTES), 1)).rejects.toMatchObject({ code: 'EIO' });
    expect(store.putBytes).toHaveLength(2);
    expect(store.running).toBe(0);
  });
});
