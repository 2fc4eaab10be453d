import { afterEach, describe, expect, it } from 'vitest';
import { BLOCK, TempDirs, describeCheck, dirBytes, fileHashes, openDisk, pseudoRandomBytes, sha, snapshotKeys } from './helpers.js';

/**
 * `gc()` on a disk store gives the space of what it frees back to the file system: packs whose
 * live share fell are rewritten and deleted (compaction), so the directory shrinks.
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const PACK_TARGET = 256 << 10;
const SNAPSHOTS = 24;
/** 25 blocks, ~100 KiB: under half a pack, so a pack holding one kept snapshot is mostly garbage. */
const FILE_BLOCKS = 25;

describe('gc on a disk store', () => {
  it('shrinks the directory by at least the bytes it frees, less one pack of slack; storedBytes drops by bytesFreed; the rest stays intact', async () => {
    const dir = await dirs.make();
    const options = { packTarget: PACK_TARGET };
    const store = await openDisk(dir, options);
    const contents = new Map<string, Buffer>();
    for (let i = 0; i < SNAPSHOTS; i++) {
      const layer = await store.prepare(`w${i}`);
      const bytes = pseudoRandomBytes(FILE_BLOCKS * BLOCK - 7 * i, 1000 + i);
      await layer.writeFile('/data', bytes);
      await layer.writeFile('/small', `snapshot ${i}`);
      await store.commit(`s${i}`, `w${i}`);
      contents.set(`s${i}`, bytes);
    }
    const keep = new Set(['s3', 's11', 's20']);
    for (const key of contents.keys()) if (!keep.has(key)) await store.remove(key);

    const statsBefore = await store.stats();
    const diskBefore = await dirBytes(dir);
    const report = await store.gc();
    const statsAfter = await store.stats();
    const diskAfter = await dirBytes(dir);

    expect(report.blocksRemoved).toBe(statsBefore.blocks - statsAfter.blocks);
    expect(report.bytesFreed).toBe(statsBefore.storedBytes - statsAfter.storedBytes);
    // Exactly the kept snapshots' blocks remain (each block of the files is distinct).
    const live = [...keep].reduce((sum, key) => sum + contents.get(key)!.length + `snapshot ${key.slice(1)}`.length, 0);
    expect(statsAfter.storedBytes).toBe(live);
    expect(report.bytesFreed).toBeGreaterThan(15 * FILE_BLOCKS * BLOCK);
    expect(diskBefore - diskAfter).toBeGreaterThanOrEqual(report.bytesFreed - PACK_TARGET);

    const again = await store.gc();
    expect(again).toEqual({ blocksRemoved: 0, bytesFreed: 0 });
    await store.close();
    const closedBytes = await dirBytes(dir);
    expect(closedBytes).toBeLessThanOrEqual(live + 2 * PACK_TARGET);

    const reopened = await openDisk(dir, options);
    try {
      expect(await snapshotKeys(reopened)).toEqual([...keep].sort());
      for (const key of keep) {
        const i = Number(key.slice(1));
        expect(await fileHashes(await reopened.mount(key))).toEqual({ '/data': sha(contents.get(key)!), '/small': sha(Buffer.from(`snapshot ${i}`)) });
      }
      expect((await reopened.stats()).storedBytes).toBe(live);
      const check = await reopened.check();
      expect(check.ok, describeCheck(check)).toBe(true);
    } finally {
      await reopened.close();
    }
  });

  it('lets reads of the snapshots it keeps run while it compacts, each returning exactly the content', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir, { packTarget: 32 << 10 });
    const kept = new Map<string, Buffer>();
    for (let i = 0; i < 24; i++) {
      const layer = await store.prepare(`w${i}`);
      const bytes = pseudoRandomBytes(3 * BLOCK, 2000 + i);
      await layer.writeFile('/x', bytes);
      await store.commit(`s${i}`, `w${i}`);
      if (i % 4 === 0) kept.set(`s${i}`, bytes);
    }
    for (let i = 0; i < 24; i++) if (!kept.has(`s${i}`)) await store.remove(`s${i}`);
    let stop = false;
    const errors: string[] = [];
    let reads = 0;
    const readers = [...kept].map(async ([key, bytes]) => {
      const layer = await store.mount(key);
      while (!stop) {
        try {
          if (!(await layer.readFile('/x')).equals(bytes)) errors.push(`${key}: wrong content`);
          reads++;
        } catch (error) {
          errors.push(`${key}: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const report = await store.gc();
    stop = true;
    await Promise.all(readers);
    await store.close();
    expect(report.blocksRemoved).toBe(18 * 3);
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(0);
  });

  it('while check() runs at the same time: check() reports no damage (what gc removes is garbage, not damage)', async () => {
    // A race: a few rounds, each with fresh garbage for gc to remove and packs to compact.
    const dir = await dirs.make();
    const store = await openDisk(dir, { packTarget: 16 << 10 });
    const problems: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 18; i++) {
          const layer = await store.prepare(`w${round}-${i}`);
          await layer.writeFile('/x', pseudoRandomBytes(2 * BLOCK + 800, 3000 + 100 * round + i));
          await store.commit(`s${round}-${i}`, `w${round}-${i}`);
        }
        for (let i = 0; i < 18; i++) if (i % 3 !== 0) await store.remove(`s${round}-${i}`);
        const [report] = await Promise.all([store.check(), store.gc()]);
        if (!report.ok) problems.push(`round ${round}: ${describeCheck(report)}`);
      }
      const after = await store.check();
      expect(after.ok, describeCheck(after)).toBe(true);
    } finally {
      await store.close();
    }
    expect(problems).toEqual([]);
  });

  it('frees the tree nodes of removed snapshots too: a store emptied and collected is back to its metadata', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir, { packTarget: 64 << 10 });
    const empty = await dirBytes(dir);
    for (let i = 0; i < 10; i++) {
      const layer = await store.prepare(`w${i}`);
      for (let d = 0; d < 4; d++) await layer.mkdir(`/d${d}`);
      for (let f = 0; f < 20; f++) await layer.writeFile(`/d${f % 4}/f${f}`, pseudoRandomBytes(300, i * 100 + f));
      await store.commit(`s${i}`, `w${i}`);
    }
    for (let i = 0; i < 10; i++) await store.remove(`s${i}`);
    await store.gc();
    expect((await store.stats()).blocks).toBe(0);
    await store.close();
    // What is left: config, catalog, index and at most one (nearly empty) pack with its header.
    expect(await dirBytes(dir)).toBeLessThan(empty + 4096);
  });
});
