import { afterEach, describe, expect, it } from 'vitest';
import { sha256Id } from '../../src/hashing/InlineHasher.js';
import { DEFAULT_SLAB_BYTES, WorkerPoolHasher, type WorkerPoolOptions } from '../../src/hashing/WorkerPoolHasher.js';
import { hasherSuite, pseudoRandomBytes, splitBlocks } from './hasherSuite.js';

hasherSuite('WorkerPoolHasher, 1 thread', () => new WorkerPoolHasher(1));
hasherSuite('WorkerPoolHasher, 2 threads', () => new WorkerPoolHasher(2));

describe('WorkerPoolHasher', () => {
  const open: WorkerPoolHasher[] = [];
  const pool = (threads: number, options?: WorkerPoolOptions): WorkerPoolHasher => {
    const made = new WorkerPoolHasher(threads, options);
    open.push(made);
    return made;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((made) => made.close()));
  });

  it('rejects a bad thread count, slab size or block list with TypeError', async () => {
    expect(() => new WorkerPoolHasher(0)).toThrow(TypeError);
    expect(() => new WorkerPoolHasher(1.5)).toThrow(TypeError);
    expect(() => new WorkerPoolHasher(1, { slabBytes: 0 })).toThrow(TypeError);
    const p = pool(1);
    await expect(p.hash(['not bytes'] as unknown as Uint8Array[])).rejects.toThrow(TypeError);
    await expect(p.hash('abc' as unknown as Uint8Array[])).rejects.toThrow(TypeError);
  });

  it('splits a large call into slab-sized batches, one message each', async () => {
    const p = pool(2);
    const blocks = splitBlocks(pseudoRandomBytes(64 << 20, 10), 4096);
    expect(await p.hash(blocks)).toEqual(blocks.map(sha256Id));
    expect(p.stats()).toMatchObject({
      batches: (64 << 20) / DEFAULT_SLAB_BYTES,
      blocksHashed: blocks.length,
      bytesHashed: 64 << 20,
      batchesRerun: 0,
      workersReplaced: 0,
      inFlightBytes: 0,
    });
  });

  it('spreads a call smaller than a slab over the idle workers, but not below 256 KiB a batch', async () => {
    const p = pool(2);
    const read = splitBlocks(pseudoRandomBytes(1 << 20, 15), 65536); // a 1 MiB read's blocks
    expect(await p.hash(read)).toEqual(read.map(sha256Id));
    expect(p.stats().batches).toBe(2);
    const small = splitBlocks(pseudoRandomBytes(256 << 10, 16), 65536);
    expect(await p.hash(small)).toEqual(small.map(sha256Id));
    expect(p.stats().batches).toBe(3);
    const alone = pool(1);
    expect(await alone.hash(read)).toEqual(read.map(sha256Id));
    expect(alone.stats().batches).toBe(1);
  });

  it('gathers small calls that wait into one batch', async () => {
    const p = pool(2);
    const blocks = splitBlocks(pseudoRandomBytes(100 * 4096, 11), 4096);
    const results = await Promise.all(blocks.map((block) => p.hash([block])));
    expect(results.flat()).toEqual(blocks.map(sha256Id));
    // One batch for each of the 4 slabs, taken by the first 4 calls; the 96 calls that waited
    // share the next free slab.
    expect(p.stats().batches).toBe(5);
  });

  it('sends a block larger than a slab alone in a slab of its own', async () => {
    const p = pool(1, { slabBytes: 65536 });
    const bytes = pseudoRandomBytes(512 * 1024, 12);
    const sizes = [100_000, 10, 200_000, 65536, 0];
    let at = 0;
    const blocks = sizes.map((size) => bytes.subarray(at, (at += size)));
    expect(await p.hash(blocks)).toEqual(blocks.map(sha256Id));
    // [100000] [10] [200000] [65536, 0]
    expect(p.stats().batches).toBe(4);
  });

  it('bounds the bytes in flight under many concurrent calls (512 MiB of 1 MiB blocks)', async () => {
    const p = pool(2);
    const distinct = splitBlocks(pseudoRandomBytes(16 << 20, 13), 1 << 20);
    const expected = distinct.map(sha256Id);
    const calls = Array.from({ length: 64 }, (_, c) => Array.from({ length: 8 }, (_, i) => distinct[(c + i) % 16]!));
    const results = await Promise.all(calls.map((blocks) => p.hash(blocks)));
    expect(results).toEqual(calls.map((_, c) => Array.from({ length: 8 }, (_, i) => expected[(c + i) % 16])));
    const stats = p.stats();
    expect(p.inFlightLimit).toBe(2 * 2 * DEFAULT_SLAB_BYTES);
    expect(stats.maxInFlightBytes).toBeGreaterThan(0);
    expect(stats.maxInFlightBytes).toBeLessThanOrEqual(p.inFlightLimit);
    expect(stats).toMatchObject({ blocksHashed: 512, bytesHashed: 512 << 20, batches: 128, inFlightBytes: 0 });
  });

  it('replaces a worker that dies mid-batch and re-runs its batches, answering each once', async () => {
    const p = pool(2);
    const bytes = pseudoRandomBytes(48 << 20, 14);
    const blocks = splitBlocks(bytes, 65536).concat(splitBlocks(bytes.subarray(0, 1 << 20), 5000));
    const pending = p.hash(blocks);
    await p.terminateOneWorkerForTest();
    expect(await pending).toEqual(blocks.map(sha256Id));
    const stats = p.stats();
    expect(stats.workersReplaced).toBe(1);
    expect(stats.batchesRerun).toBeGreaterThanOrEqual(1);
    expect(stats.blocksHashed).toBe(blocks.length);
    expect(stats.bytesHashed).toBe(bytes.length + (1 << 20));
    expect(await p.hash(blocks.slice(0, 3))).toEqual(blocks.slice(0, 3).map(sha256Id));
  });

  it('fails closed with EIO when workers keep dying before answering anything', async () => {
    const p = pool(1);
    const pending = p.hash(splitBlocks(pseudoRandomBytes(16 << 20, 15), 65536));
    const failed = expect(pending).rejects.toMatchObject({ code: 'EIO' });
    for (let i = 0; i < 3; i++) await p.terminateOneWorkerForTest();
    await failed;
    expect(p.stats().workersReplaced).toBe(2);
    await expect(p.hash([new Uint8Array(1)])).rejects.toMatchObject({ code: 'EIO' });
    await p.close();
    await expect(p.hash([new Uint8Array(1)])).rejects.toMatchObject({ code: 'EBADF' });
  });

  it('rejects every pending call with EBADF on close', async () => {
    const p = pool(2);
    const big = expect(p.hash(splitBlocks(pseudoRandomBytes(64 << 20, 16), 4096))).rejects.toMatchObject({
      code: 'EBADF',
      syscall: 'hash',
    });
    const queued = expect(p.hash([new Uint8Array(10)])).rejects.toMatchObject({ code: 'EBADF' });
    await p.close();
    await Promise.all([big, queued]);
  });
});
