import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openStore, type OpenOptions, type Store } from '../../src/index.js';
import { dumpLayer } from '../image/kit.js';
import { FaultyFileSystem } from '../support/FaultyFileSystem.js';
import { registryFixture } from './fixture.js';
import { hasRegistry, skipReason } from './harness.js';

const open = (dir: string, options: Record<string, unknown> = {}): Promise<Store> => openStore({ dir, workers: 0, blockSize: 4096, ...options } as OpenOptions);

/**
 * A lazy pull on a durable store under disk faults and power loss: whatever fails, the store
 * reopens consistent (every snapshot it names reads in full, its remote blocks covered by a
 * saved source), and a pull that resolved survives a power cut.
 */
describe.skipIf(!hasRegistry)(`lazy pull on a failing disk${skipReason}`, () => {
  const fixture = registryFixture();
  const ref = (): string => `${fixture.proxy.host}/faults/image:v1`;
  let expected: Record<string, unknown>;

  beforeAll(async () => {
    await fixture.store.push('child', ref(), { lazy: true });
    expected = await dumpLayer(await fixture.store.mount('child'));
  });

  /** Reopens `dir` and checks it: `check` finds nothing missing, and the image, when there, reads whole. */
  async function checkConsistent(dir: string, what: string): Promise<boolean> {
    const store = await open(dir);
    try {
      const report = await store.check();
      expect(report.problems, what).toEqual([]);
      const keys: string[] = [];
      for await (const info of store.walk({ kind: 'committed' })) keys.push(info.key);
      expect(keys.length, what).toBeLessThanOrEqual(2);
      const top = await topOf(store, keys);
      if (top !== undefined) expect(await dumpLayer(await store.mount(top)), what).toEqual(expected);
      return top !== undefined;
    } finally {
      await store.close();
    }
  }

  it('fails at every write of the pull in turn, leaving a store that reopens consistent', async () => {
    let completed = false;
    for (let k = 1; !completed; k++) {
      const dir = await mkdtemp(join(tmpdir(), 'cowstack-lazy-fault-'));
      try {
        const fs = new FaultyFileSystem();
        const store = await open(dir, { fileSystem: fs });
        fs.failAt(k, 'EIO');
        const outcome = await store.pull(ref(), { lazy: true }).then(() => 'ok', (error: { code?: string }) => error.code);
        completed = fs.faultsHit === 0;
        if (!completed) expect(outcome, `fault at op ${k}`).toMatch(/^(EIO|ok)$/);
        await store.close().catch(() => undefined);
        const whole = await checkConsistent(dir, `fault at op ${k} (${fs.ops[k - 1]?.kind} ${fs.ops[k - 1]?.path})`);
        if (outcome === 'ok' && fs.faultsHit === 0) expect(whole).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      expect(k).toBeLessThan(200);
    }
  });

  it('keeps a resolved lazy pull through a power cut: the snapshots and their source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-lazy-power-'));
    try {
      const fs = new FaultyFileSystem();
      const store = await open(dir, { fileSystem: fs });
      fs.trackDurability(dir);
      await store.pull(ref(), { lazy: true });
      fs.halt();
      await store.close().catch(() => undefined);
      fs.crash('worst');
      fs.resume();
      expect(await checkConsistent(dir, 'after a power cut')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('quarantines a damaged sources file: the store opens, check names the missing blocks, a lazy pull again restores them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-lazy-damaged-'));
    try {
      let store = await open(dir);
      const info = await store.pull(ref(), { lazy: true });
      await store.close();
      const file = join(dir, 'sources');
      const bytes = await readFile(file);
      bytes[bytes.length - 10]! ^= 0xff;
      await writeFile(file, bytes);

      store = await open(dir);
      expect(existsSync(`${file}.damaged`)).toBe(true);
      const report = await store.check();
      expect(report.ok).toBe(false);
      expect(report.blocksRemote).toBe(0);
      expect(report.problems.every((problem) => problem.code === 'EINTEGRITY' && problem.message.includes('missing'))).toBe(true);
      await expect((await store.mount(info.key)).readFile('/bin/tool')).rejects.toMatchObject({ code: 'EINTEGRITY' });

      expect((await store.pull(ref(), { lazy: true })).key).toBe(info.key);
      expect(await store.check()).toMatchObject({ ok: true, problems: [] });
      expect(await dumpLayer(await store.mount(info.key))).toEqual(expected);
      await store.close();

      // Damaged again: set aside beside the first, which is kept.
      await writeFile(file, 'not a sources file');
      await (await open(dir)).close();
      expect(await readFile(`${file}.damaged`)).toEqual(bytes);
      expect(await readFile(`${file}.damaged.2`, 'utf8')).toBe('not a sources file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The key among a two-layer chain's that has the other as parent. */
async function topOf(store: Store, keys: readonly string[]): Promise<string | undefined> {
  for (const key of keys) if ((await store.stat(key)).parent !== undefined) return key;
  return undefined;
}
