import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FaultyFileSystem } from '../support/FaultyFileSystem.js';
import { BLOCK, TempDirs, openDisk, packFiles, pseudoRandomBytes, rejection } from './helpers.js';

/**
 * A store closes every file it opens: after `close()` (even one that rejects) or a failed open,
 * no descriptor of this process points into the store directory. Read from /proc (Linux).
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

function openIn(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return out.sort();
}

describe.skipIf(!existsSync('/proc/self/fd'))('file handles of a disk store', () => {
  it('are all closed by close(), after concurrent reads of multi-block files from packs not opened yet', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir, { packTarget: 32 << 10 });
    const work = await store.prepare('w');
    for (let i = 0; i < 4; i++) await work.writeFile(`/f${i}`, pseudoRandomBytes(12 * BLOCK, i));
    await store.commit('c', 'w');
    await store.close();
    expect(openIn(dir)).toEqual([]);

    const reopened = await openDisk(dir, { packTarget: 32 << 10 });
    const layer = await reopened.mount('c');
    await Promise.all([0, 1, 2, 3].map((i) => layer.readFile(`/f${i}`)));
    await reopened.close();
    expect(openIn(dir)).toEqual([]);
  });

  it('are all closed after a failed open', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir);
    await (await store.prepare('w')).writeFile('/f', pseudoRandomBytes(BLOCK, 1));
    await store.commit('c', 'w');
    await store.close();
    // A pack of a newer format makes the open fail (EINVAL) after the packs before it were opened.
    const packs = await packFiles(dir);
    expect(packs.length).toBeGreaterThan(0);
    const header = Buffer.alloc(16);
    header.write('CWPK', 0, 'latin1');
    header.writeUInt32LE(2, 4);
    header.writeUInt32LE(0xffffffff, 8);
    await writeFile(join(dir, 'packs', 'ffffffff.pack'), header);
    const error = await rejection(openDisk(dir).then(async (store) => store.close()));
    expect(error.code).toBe('EINVAL');
    expect(openIn(dir)).toEqual([]);
  });

  it('are all closed by close() after a write failed, at every operation of writes and a commit that roll packs over', async () => {
    const attempt = async (k: number | undefined): Promise<{ dir: string; fs: FaultyFileSystem }> => {
      const dir = await dirs.make();
      const fs = new FaultyFileSystem();
      const store = await openDisk(dir, { fileSystem: fs, packTarget: 8 << 10 });
      const work = await store.prepare('w');
      if (k === undefined) fs.startCounting();
      else fs.failAt(k, 'EIO');
      await (async () => {
        for (let i = 0; i < 3; i++) await work.writeFile(`/f${i}`, pseudoRandomBytes(2 * BLOCK, i));
        await store.commit('c', 'w');
      })().catch(() => undefined);
      await store.close().catch(() => undefined);
      return { dir, fs };
    };
    const { fs: counted } = await attempt(undefined);
    const leaks: string[] = [];
    for (let k = 1; k <= counted.ops.length; k++) {
      const { dir } = await attempt(k);
      const left = openIn(dir);
      if (left.length > 0) leaks.push(`fault at k=${k} (${counted.ops[k - 1]!.kind}): ${left.map((p) => p.slice(dir.length)).join(', ')}`);
    }
    expect(leaks).toEqual([]);
  });
});
