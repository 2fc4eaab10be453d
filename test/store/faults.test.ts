import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Layer, Store } from '../../src/index.js';
import { FaultyFileSystem, type FaultCode, type OpRecord } from '../support/FaultyFileSystem.js';
import { BLOCK, TempDirs, describeCheck, fileHashes, openDisk, pseudoRandomBytes, rejection, sha, snapshotKeys } from './helpers.js';

/**
 * Fault injection: the k-th changing file operation of a commit fails with EIO or ENOSPC, for
 * every k. The commit must reject with that code, the store must fail closed (every later write
 * rejects with EIO), and a reopen on the real file system must find exactly the committed state
 * from before — or that state plus the commit, exactly when the fault came after the catalog's
 * rename had been done — with `check()` ok.
 */
const dirs = new TempDirs();
const PACK_TARGET = 16 << 10;
let template: string;

const BASE_FILES: Record<string, Buffer> = {
  '/a': pseudoRandomBytes(3 * BLOCK + 5, 1),
  '/b': pseudoRandomBytes(200, 2),
};
const NEW_FILES: Record<string, Buffer> = {
  '/c': pseudoRandomBytes(6 * BLOCK, 3),
  '/a': Buffer.concat([BASE_FILES['/a']!.subarray(0, BLOCK), pseudoRandomBytes(2 * BLOCK, 4)]),
  '/d/e': pseudoRandomBytes(4 * BLOCK + 1, 5),
};

const hashes = (files: Record<string, Buffer>): Record<string, string> =>
  Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, sha(bytes)] as const).sort(([x], [y]) => (x < y ? -1 : 1)));
const S = { c0: hashes(BASE_FILES) };
/** A commit saves the whole catalog: the active snapshot 'other' (prepared, untouched) is in it from then on. */
const S_PLUS = { c0: hashes(BASE_FILES), c1: hashes({ ...BASE_FILES, ...NEW_FILES }), other: hashes(BASE_FILES) };

beforeAll(async () => {
  // State S: one committed snapshot, made once and copied for every run.
  template = await dirs.make();
  const store = await openDisk(template, { packTarget: PACK_TARGET });
  const layer = await store.prepare('w0');
  for (const [path, bytes] of Object.entries(BASE_FILES)) await layer.writeFile(path, bytes);
  await store.commit('c0', 'w0');
  await store.close();
});
afterAll(() => dirs.removeAll());

async function writeNewFiles(layer: Layer): Promise<void> {
  await layer.mkdir('/d');
  for (const [path, bytes] of Object.entries(NEW_FILES)) await layer.writeFile(path, bytes);
}

interface Run {
  fs: FaultyFileSystem;
  store: Store;
  work: Layer;
  /** Another active snapshot, with a file, to try writes on after the fault. */
  other: Layer;
}

async function start(): Promise<Run> {
  const dir = await dirs.make();
  await cp(template, dir, { recursive: true });
  const fs = new FaultyFileSystem();
  const store = await openDisk(dir, { fileSystem: fs, packTarget: PACK_TARGET });
  const work = await store.prepare('work', 'c0');
  const other = await store.prepare('other', 'c0');
  return { fs, store, work, other };
}

/** The snapshots of a reopened store and their files. */
async function stateOf(dir: string): Promise<{ state: Record<string, Record<string, string>>; check: string }> {
  const store = await openDisk(dir, { packTarget: PACK_TARGET });
  try {
    const state: Record<string, Record<string, string>> = {};
    for (const key of await snapshotKeys(store)) state[key] = await fileHashes(await store.mount(key));
    const report = await store.check();
    // The store must also still take a commit after recovery.
    const layer = await store.prepare('after', 'c0');
    await layer.writeFile('/after', 'after');
    await store.commit('c-after', 'after');
    return { state, check: report.ok ? 'ok' : describeCheck(report) };
  } finally {
    await store.close();
  }
}

/** The region measured: with `withWrites`, the writes into the snapshot as well as its commit. */
async function region(run: Run, withWrites: boolean): Promise<void> {
  if (withWrites) await writeNewFiles(run.work);
  await run.store.commit('c1', 'work');
}

/** The index of the operation that renames the new catalog into place (the commit point). */
function catalogRename(ops: readonly OpRecord[]): number {
  const renames = ops.filter((op) => op.kind === 'rename' && op.to !== undefined && op.to.endsWith('/catalog'));
  if (renames.length !== 1) throw new Error(`expected one rename of the catalog, found ${renames.length}`);
  return renames[0]!.index;
}

for (const withWrites of [false, true]) {
  describe(withWrites ? 'a fault during the writes and the commit of a snapshot' : 'a fault during a commit', () => {
    let measured: readonly OpRecord[] = [];

    beforeAll(async () => {
      // Counting pass: the same region without a fault.
      const run = await start();
      if (!withWrites) await writeNewFiles(run.work);
      run.fs.startCounting();
      await region(run, withWrites);
      measured = [...run.fs.ops];
      await run.store.close();
    });

    it('is measured: the region writes, fsyncs, renames the catalog and syncs its directory', () => {
      const kinds = new Set(measured.map((op) => op.kind));
      for (const kind of ['write', 'fsync', 'rename', 'syncDir'] as const) expect(kinds).toContain(kind);
      expect(catalogRename(measured)).toBeGreaterThan(1);
    });

    for (const code of ['EIO', 'ENOSPC'] as FaultCode[]) {
      it(`at every k (${code}${code === 'ENOSPC' ? ', a failing write writes half' : ''}): rejects with the code, fails closed, and a reopen finds exactly S, or S plus the commit when k came after the catalog rename`, async () => {
        const rename = catalogRename(measured);
        const wrong: string[] = [];
        for (let k = 1; k <= measured.length; k++) {
          const op = measured[k - 1]!;
          const label = `k=${k} (${op.kind} ${op.path.replace(/.*\//, '')})`;
          const run = await start();
          if (!withWrites) await writeNewFiles(run.work);
          run.fs.failAt(k, code, { torn: code === 'ENOSPC' });
          const error = await rejection(region(run, withWrites)).catch(() => undefined);
          if (error === undefined) {
            wrong.push(`${label}: the region resolved despite the fault`);
          } else if (error.code !== code && error.code !== 'EIO') {
            wrong.push(`${label}: rejected with ${String(error.code)}, not ${code} or EIO: ${error.message}`);
          }
          if (run.fs.faultsHit !== 1) wrong.push(`${label}: the fault did not fire (the region did ${run.fs.ops.length} operations)`);
          // Fail closed: the handle is read-only for data and snapshots.
          const after = {
            writeFile: (await rejection(run.other.writeFile('/late', pseudoRandomBytes(BLOCK, 77))).catch(() => ({ code: 'resolved' }))).code,
            commit: (await rejection(run.store.commit('c2', 'other')).catch(() => ({ code: 'resolved' }))).code,
          };
          if (after.writeFile !== 'EIO' || after.commit !== 'EIO') wrong.push(`${label}: later writes gave ${JSON.stringify(after)}, not EIO`);
          await run.store.close().catch(() => undefined);
          const dir = run.store.dir!;
          try {
            const { state, check } = await stateOf(dir);
            const want = k > rename ? S_PLUS : S;
            if (JSON.stringify(state) !== JSON.stringify(want)) {
              wrong.push(`${label}: reopened with ${JSON.stringify(Object.keys(state))}${JSON.stringify(state) === JSON.stringify(k > rename ? S : S_PLUS) ? ' (the other outcome)' : ''}, want ${JSON.stringify(Object.keys(want))}`);
            }
            if (check !== 'ok') wrong.push(`${label}: check() after reopen: ${check}`);
          } catch (reopenError) {
            wrong.push(`${label}: reopen failed: ${(reopenError as Error).message}`);
          }
        }
        expect(wrong).toEqual([]);
      });
    }
  });
}

describe('a store after a failed write', () => {
  it('fails closed for every kind of write, data or metadata: each rejects with EIO', async () => {
    const run = await start();
    await run.work.writeFile('/x', pseudoRandomBytes(BLOCK, 9));
    run.fs.failAt(1, 'EIO');
    expect((await rejection(run.store.commit('c1', 'work'))).code).toBe('EIO');
    const attempts: [string, () => Promise<unknown>][] = [
      ['writeFile (data)', () => run.other.writeFile('/y', pseudoRandomBytes(BLOCK, 10))],
      ['writeFile (empty)', () => run.other.writeFile('/empty', '')],
      ['mkdir', () => run.other.mkdir('/dir')],
      ['chmod', () => run.other.chmod('/a', 0o600)],
      ['truncate', () => run.other.truncate('/a', 10)],
      ['rename', () => run.other.rename('/a', '/a2')],
      ['unlink', () => run.other.unlink('/b')],
      ['sync', () => run.other.sync()],
      ['prepare', () => run.store.prepare('p', 'c0')],
      ['commit', () => run.store.commit('c2', 'other')],
      ['update', () => run.store.update('c0', { labels: { x: 'y' } })],
      ['remove', () => run.store.remove('other')],
      ['gc', () => run.store.gc()],
    ];
    const codes: Record<string, string | undefined> = {};
    for (const [name, call] of attempts) codes[name] = (await rejection(call()).catch(() => ({ code: 'resolved' }))).code;
    await run.store.close().catch(() => undefined);
    expect(codes).toEqual(Object.fromEntries(attempts.map(([name]) => [name, 'EIO'])));
  });

  it('still reads what it holds, and close() releases the lock even when it rejects', async () => {
    const run = await start();
    await run.work.writeFile('/x', pseudoRandomBytes(BLOCK, 9));
    run.fs.failAt(1, 'ENOSPC');
    expect(['ENOSPC', 'EIO']).toContain((await rejection(run.store.commit('c1', 'work'))).code);
    expect(sha(await run.work.readFile('/x'))).toBe(sha(pseudoRandomBytes(BLOCK, 9)));
    expect(await fileHashes(await run.store.mount('c0'))).toEqual(S.c0);
    await run.store.close().catch(() => undefined);
    const again = await openDisk(run.store.dir!, { packTarget: PACK_TARGET });
    try {
      expect(await snapshotKeys(again)).toEqual(['c0']);
    } finally {
      await again.close();
    }
  });

  it('a failed index write during close leaves a store that opens with everything committed', async () => {
    const run = await start();
    await writeNewFiles(run.work);
    await run.store.commit('c1', 'work');
    // Count the operations of a close, then fail each one in turn.
    const probe = await start();
    await writeNewFiles(probe.work);
    await probe.store.commit('c1', 'work');
    probe.fs.startCounting();
    await probe.store.close();
    const ops = probe.fs.ops.length;
    await run.store.close();
    const wrong: string[] = [];
    for (let k = 1; k <= ops; k++) {
      const attempt = await start();
      await writeNewFiles(attempt.work);
      await attempt.store.commit('c1', 'work');
      attempt.fs.failAt(k, 'EIO');
      await attempt.store.close().catch(() => undefined);
      try {
        const { state, check } = await stateOf(attempt.store.dir!);
        if (JSON.stringify(state) !== JSON.stringify(S_PLUS)) wrong.push(`k=${k}: reopened with ${JSON.stringify(Object.keys(state))}`);
        if (check !== 'ok') wrong.push(`k=${k}: ${check}`);
      } catch (error) {
        wrong.push(`k=${k}: reopen failed: ${(error as Error).message}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('a fault during a gc that compacts', () => {
  it('at every k: gc rejects, and a reopen finds every remaining snapshot intact with check() ok', async () => {
    const files = new Map<string, Buffer>();
    const gcTemplate = await dirs.make();
    const setup = await openDisk(gcTemplate, { packTarget: 8 << 10 });
    for (let i = 0; i < 6; i++) {
      const layer = await setup.prepare(`w${i}`);
      const bytes = pseudoRandomBytes(2 * BLOCK + 100 * i, 600 + i);
      files.set(`s${i}`, bytes);
      await layer.writeFile('/x', bytes);
      await setup.commit(`s${i}`, `w${i}`);
    }
    for (let i = 0; i < 6; i += 2) await setup.remove(`s${i}`);
    await setup.close();
    const build = async (): Promise<{ fs: FaultyFileSystem; store: Store }> => {
      const dir = await dirs.make();
      await cp(gcTemplate, dir, { recursive: true });
      const fs = new FaultyFileSystem();
      return { fs, store: await openDisk(dir, { fileSystem: fs, packTarget: 8 << 10 }) };
    };
    const probe = await build();
    probe.fs.startCounting();
    await probe.store.gc();
    const ops = probe.fs.ops.length;
    await probe.store.close();
    expect(probe.fs.ops.some((op) => op.kind === 'unlink')).toBe(true);

    const wrong: string[] = [];
    for (let k = 1; k <= ops; k++) {
      const { fs, store } = await build();
      fs.failAt(k, 'EIO');
      const outcome = await store.gc().then(() => 'resolved', (error: { code?: string }) => error.code);
      if (outcome !== 'EIO') wrong.push(`k=${k}: gc gave ${outcome}`);
      await store.close().catch(() => undefined);
      const reopened = await openDisk(store.dir!, { packTarget: 8 << 10 });
      try {
        expect(await snapshotKeys(reopened)).toEqual(['s1', 's3', 's5']);
        for (const key of ['s1', 's3', 's5']) {
          const got = await (await reopened.mount(key)).readFile('/x').catch((error: Error) => error.message);
          if (typeof got === 'string' || sha(got) !== sha(files.get(key)!)) wrong.push(`k=${k}: ${key} reads ${typeof got === 'string' ? got : 'other bytes'}`);
        }
        const report = await reopened.check();
        if (!report.ok) wrong.push(`k=${k}: ${describeCheck(report)}`);
      } finally {
        await reopened.close();
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('FaultyFileSystem itself', () => {
  it('counts the operations of a store, and injects a fault exactly at the k-th', async () => {
    const dir = join(await dirs.make(), 'store');
    const fs = new FaultyFileSystem();
    const store = await openDisk(dir, { fileSystem: fs });
    const layer = await store.prepare('w');
    fs.startCounting();
    await layer.writeFile('/f', pseudoRandomBytes(BLOCK, 1));
    expect(fs.ops.map((op) => op.kind)).toContain('write');
    fs.failAt(1, 'ENOSPC');
    expect((await rejection(layer.writeFile('/g', pseudoRandomBytes(BLOCK, 2)))).code).toBe('ENOSPC');
    expect(fs.faultsHit).toBe(1);
    await store.close().catch(() => undefined);
  });
});
