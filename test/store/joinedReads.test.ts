import { afterEach, describe, expect, it } from 'vitest';
import { GatedFileSystem } from '../support/GatedFileSystem.js';
import { BLOCK, TempDirs, openDisk, pseudoRandomBytes } from './helpers.js';

/**
 * Blocks that lie side by side in a pack are read together (`PackStore.readMany`): a file written
 * in one go is read back with a `pread` per MiB, not per block. What damage inside such a read does
 * is tested in corruption.test.ts (a flipped byte in the middle of a file).
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

describe('reads of blocks side by side in a pack', () => {
  it('read a 2 MiB file of 4 KiB blocks with one pread per MiB, and a 1 MiB handle read with at most two', async () => {
    const dir = await dirs.make();
    const content = pseudoRandomBytes(2 * 1024 * 1024 + 100, 7);
    const writer = await openDisk(dir);
    const work = await writer.prepare('work');
    await work.writeFile('/file', content);
    await writer.commit('image', 'work');
    await writer.close();

    for (const verifyReads of [true, false]) {
      const fs = new GatedFileSystem();
      const store = await openDisk(dir, { fileSystem: fs, verifyReads, readOnly: true });
      try {
        const layer = await store.mount('image');
        const before = fs.reads;
        expect((await layer.readFile('/file')).equals(content)).toBe(true);
        // 513 records of 4 KiB + 48 bytes of header: 2.02 MiB, so three reads of at most 1 MiB (not 513).
        expect(fs.reads - before).toBe(3);
        const handle = await layer.open('/file');
        const read = Buffer.alloc(1024 * 1024);
        const at = 100 * BLOCK + 123;
        const start = fs.reads;
        await handle.read(read, 0, read.length, at);
        expect(fs.reads - start).toBeLessThanOrEqual(2);
        expect(read.equals(content.subarray(at, at + read.length))).toBe(true);
        await handle.close();
      } finally {
        await store.close();
      }
    }
  });
});
