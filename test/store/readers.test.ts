import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import type { Layer, Store } from '../../src/index.js';
import { PackStore } from '../../src/store/disk/PackStore.js';
import { GatedFileSystem } from '../support/GatedFileSystem.js';
import { BLOCK, TempDirs, openDisk, pseudoRandomBytes, sha } from './helpers.js';

/**
 * The pack store keeps at most 64 idle read handles (`OPEN_READERS` in PackStore.ts) and evicts
 * the least recently used. A handle a read is using must stay open until that read ends: evicted,
 * dropped by a compaction, or reached by `close()`, it is closed after its last read, and `close()`
 * resolves only once every handle is closed. A `GatedFileSystem` holds or delays reads so that the
 * eviction, the compaction or the close lands while the read is in flight.
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

/** Each 4 KiB block fills its pack: one data block per pack. */
const ONE_BLOCK_PACKS = BLOCK;
const isPack = (path: string): boolean => path.endsWith('.pack');

/**
 * A committed snapshot `c` of `count` one-block files `/f<i>`, each in a pack of its own, and
 * `/all`, their concatenation (the same blocks); and a view `v` of it. Reads of one snapshot run
 * one after another (its queue), while the blocks of one file are read all at once: reads in
 * flight together come from `/all` or from two snapshots. Resolves to the hashes of the files.
 */
async function storeOfManyPacks(dir: string, count: number): Promise<{ files: string[]; all: string }> {
  const store = await openDisk(dir, { packTarget: ONE_BLOCK_PACKS });
  const blocks = Array.from({ length: count }, (_, i) => pseudoRandomBytes(BLOCK, 1000 + i));
  try {
    const work = await store.prepare('w');
    for (const [i, bytes] of blocks.entries()) await work.writeFile(`/f${i}`, bytes);
    await work.writeFile('/all', Buffer.concat(blocks));
    await store.commit('c', 'w');
    await store.view('v', 'c');
  } finally {
    await store.close();
  }
  return { files: blocks.map(sha), all: sha(Buffer.concat(blocks)) };
}

async function closeAndCount(store: Store, fs: GatedFileSystem): Promise<void> {
  await store.close();
  expect(fs.openFiles).toBe(0);
  expect(fs.closedDuringRead).toBe(0);
  expect(fs.closedTwice).toBe(0);
}

describe('pack read handles', () => {
  it('a read in flight keeps its handle when more than 64 other packs are read meanwhile (LRU eviction)', async () => {
    const dir = await dirs.make();
    const hashes = await storeOfManyPacks(dir, 100);
    const fs = new GatedFileSystem();
    const store = await openDisk(dir, { fileSystem: fs, packTarget: ONE_BLOCK_PACKS });
    const [layer, view] = [await store.mount('c'), await store.mount('v')];
    const held = fs.holdNextRead(isPack);
    const first = view.readFile('/f0');
    await held.arrived;
    // 99 packs opened after /f0's: its handle is evicted from the 64 kept while its read waits.
    for (let i = 1; i < 100; i++) expect(sha(await layer.readFile(`/f${i}`)), `/f${i}`).toBe(hashes.files[i]);
    held.release();
    expect(sha(await first)).toBe(hashes.files[0]);
    await closeAndCount(store, fs);
  });

  it('concurrent reads of 150 packs, each read delayed, all return their bytes and leave no file open', async () => {
    const dir = await dirs.make();
    const hashes = await storeOfManyPacks(dir, 150);
    const fs = new GatedFileSystem();
    const store = await openDisk(dir, { fileSystem: fs, packTarget: ONE_BLOCK_PACKS });
    const layers = [await store.mount('c'), await store.mount('v')];
    fs.delayReads(3);
    for (let round = 0; round < 2; round++) {
      const read = await Promise.all(layers.map(async (layer) => sha(await layer.readFile('/all'))));
      expect(read).toEqual([hashes.all, hashes.all]);
    }
    // Once the closes begun have ended, at most 64 idle read handles stay open (`OPEN_READERS`),
    // beside the pack being written.
    await fs.until(() => fs.closing === 0);
    expect(fs.openFiles).toBeLessThanOrEqual(64 + 1);
    await closeAndCount(store, fs);
  });

  it('a read in flight when gc compacts its pack away returns its bytes, its handle closed only after it', async () => {
    const dir = await dirs.make();
    const fs = new GatedFileSystem();
    // Three blocks fill a pack; two of them become garbage, so gc rewrites the pack.
    const store = await openDisk(dir, { fileSystem: fs, packTarget: 16 + 3 * (48 + BLOCK) });
    const [kept, junk1, junk2] = [0, 1, 2].map((i) => pseudoRandomBytes(BLOCK, 2000 + i)) as [Buffer, Buffer, Buffer];
    const first = await store.prepare('w1');
    await first.writeFile('/a', Buffer.concat([kept, junk1, junk2]));
    await store.commit('c1', 'w1');
    const second = await store.prepare('w2');
    await second.writeFile('/k', kept);
    await store.commit('c2', 'w2');
    await store.remove('c1');
    const layer: Layer = await store.mount('c2');

    const held = fs.holdNextRead(isPack);
    const reading = layer.readFile('/k');
    const path = await held.arrived;
    const report = await store.gc();
    expect(report.blocksRemoved).toBe(2);
    expect(existsSync(path), 'gc deleted the pack the held read is reading').toBe(false);
    held.release();
    expect(sha(await reading)).toBe(sha(kept));
    expect(sha(await layer.readFile('/k'))).toBe(sha(kept));
    await closeAndCount(store, fs);
  });

  it('PackStore.close() while a read is in flight lets the read finish and closes every handle before it resolves', async () => {
    // A store's close() waits for its snapshots' queues, so reads through layers end first; the
    // pack store's own close() can still meet a read (check, or a caller of its own).
    const dir = await dirs.make();
    await storeOfManyPacks(dir, 4);
    const fs = new GatedFileSystem();
    const packs = await PackStore.open({ fs, dir, readOnly: true });
    const [first, second] = [...packs.ids('block')] as [BlockId, BlockId];
    expect((await packs.read(second, true)).byteLength).toBe(BLOCK);
    const held = fs.holdNextRead(isPack);
    const reading = packs.read(first, true);
    await held.arrived;
    const closedBefore = fs.closed;
    const closing = packs.close();
    // close() has begun: it closed the idle handles (the second block's at least).
    await fs.until(() => fs.closed > closedBefore);
    held.release();
    expect((await reading).byteLength).toBe(BLOCK);
    await closing;
    expect(fs.openFiles).toBe(0);
    expect(fs.closedDuringRead).toBe(0);
    expect(fs.closedTwice).toBe(0);
  });
});
