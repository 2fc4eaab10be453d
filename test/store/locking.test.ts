import { readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FixtureProcess, TempDirs, openDisk, rejection, snapshotKeys } from './helpers.js';

/**
 * The one-writer lock of a store directory, read-only opens, and what a directory's config
 * allows: API.md, "Opening a store".
 */
const dirs = new TempDirs();
const children: FixtureProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) await child.kill();
  await dirs.removeAll();
});

async function storeWithOneSnapshot(): Promise<string> {
  const dir = await dirs.make();
  const store = await openDisk(dir);
  const work = await store.prepare('work');
  await work.writeFile('/hello', 'hello');
  await store.commit('base', 'work');
  await store.prepare('active', 'base');
  await store.close();
  return dir;
}

async function holder(dir: string): Promise<FixtureProcess> {
  const child = new FixtureProcess('hold-store.mjs', [dir]);
  children.push(child);
  const line = await child.waitFor((l) => l['ready'] === true || l['error'] !== undefined);
  if (line['error'] !== undefined) throw new Error(`the holder could not open the store: ${String(line['error'])}`);
  return child;
}

describe('the writer lock', () => {
  it('refuses a second writer in the same process with ELOCKED, and lets one in after close', async () => {
    const dir = await storeWithOneSnapshot();
    const first = await openDisk(dir);
    try {
      const error = await rejection(openDisk(dir));
      expect(error.code).toBe('ELOCKED');
      // Through another spelling of the same directory, too.
      expect((await rejection(openDisk(join(dir, '.', '..', dir.split('/').pop()!)))).code).toBe('ELOCKED');
      // And through a symbolic link to it.
      const alias = join(await dirs.make(), 'alias');
      await symlink(dir, alias);
      expect((await rejection(openDisk(alias))).code).toBe('ELOCKED');
    } finally {
      await first.close();
    }
    const second = await openDisk(dir);
    await second.close();
  });

  it('refuses this process while another process holds the store; takes over the lock once that process is SIGKILLed', async () => {
    const dir = await storeWithOneSnapshot();
    const child = await holder(dir);
    const error = await rejection(openDisk(dir));
    expect(error.code).toBe('ELOCKED');
    await child.kill();
    const store = await openDisk(dir);
    try {
      expect(await snapshotKeys(store)).toEqual(['active', 'base']);
      const lock = JSON.parse(await readFile(join(dir, 'lock'), 'utf8')) as { pid: number };
      expect(lock.pid).toBe(process.pid);
    } finally {
      await store.close();
    }
  });

  it('refuses another process while this one holds the store', async () => {
    const dir = await storeWithOneSnapshot();
    const store = await openDisk(dir);
    try {
      const child = new FixtureProcess('hold-store.mjs', [dir]);
      children.push(child);
      expect(await child.waitFor((l) => l['ready'] === true || l['error'] !== undefined)).toEqual({ error: 'ELOCKED' });
    } finally {
      await store.close();
    }
  });

  it('is taken over, when stale, by exactly one of several processes opening at once', async () => {
    const rounds: string[] = [];
    for (let round = 0; round < 4; round++) {
      const dir = await storeWithOneSnapshot();
      // The lock of a dead process (no such pid) on this host.
      await writeFile(join(dir, 'lock'), `${JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), started: '1' })}\n`);
      const racers = Array.from({ length: 6 }, () => new FixtureProcess('hold-store.mjs', [dir, '--on-go']));
      children.push(...racers);
      await Promise.all(racers.map((child) => child.waitFor((l) => l['waiting'] === true)));
      for (const child of racers) child.child.stdin!.write('go\n');
      const outcomes = await Promise.all(racers.map((child) => child.waitFor((l) => l['ready'] === true || l['error'] !== undefined)));
      const holders = outcomes.filter((l) => l['ready'] === true).length;
      rounds.push(`${holders} holder(s): ${outcomes.map((l) => (l['ready'] === true ? 'ready' : String(l['error']))).join(' ')}`);
      for (const child of racers) await child.kill();
      if (holders !== 1) break;
    }
    expect(rounds.filter((r) => !r.startsWith('1 holder(s)'))).toEqual([]);
  });

  it('takes over the stale lock of a process whose pid was reused (a container restart: same pid, later start)', async () => {
    const dir = await storeWithOneSnapshot();
    await writeFile(join(dir, 'lock'), `${JSON.stringify({ pid: process.pid, host: hostname(), started: '1' })}\n`);
    const store = await openDisk(dir);
    await store.close();
  });

  it('takes over a lock file left empty by a writer killed while making it', async () => {
    const dir = await storeWithOneSnapshot();
    await writeFile(join(dir, 'lock'), '');
    const store = await openDisk(dir);
    await store.close();
  });
});

describe('read-only opens', () => {
  it('need no lock: they open and read while a writer (another process) holds the store', async () => {
    const dir = await storeWithOneSnapshot();
    await holder(dir);
    const reader = await openDisk(dir, { readOnly: true });
    try {
      expect(reader.readOnly).toBe(true);
      expect(await snapshotKeys(reader)).toEqual(['active', 'base']);
      expect(await (await reader.mount('base')).readFile('/hello', 'utf8')).toBe('hello');
      expect((await reader.check()).ok).toBe(true);
    } finally {
      await reader.close();
    }
  });

  it('reject every write with EROFS, and change nothing on disk', async () => {
    const dir = await storeWithOneSnapshot();
    const files = async (): Promise<Record<string, string>> => {
      const out: Record<string, string> = {};
      for (const name of ['catalog', 'index', 'config']) out[name] = (await readFile(join(dir, name))).toString('hex');
      return out;
    };
    const before = await files();
    const store = await openDisk(dir, { readOnly: true });
    try {
      const active = await store.mount('active');
      expect(active.readOnly).toBe(true);
      const writes: [string, () => Promise<unknown>][] = [
        ['prepare', () => store.prepare('new')],
        ['prepare on parent', () => store.prepare('new', 'base')],
        ['view', () => store.view('new', 'base')],
        ['commit', () => store.commit('c', 'active')],
        ['remove', () => store.remove('active')],
        ['update', () => store.update('base', { labels: { a: 'b' } })],
        ['gc', () => store.gc()],
        ['writeFile', () => active.writeFile('/x', 'x')],
        ['appendFile', () => active.appendFile('/hello', 'x')],
        ['mkdir', () => active.mkdir('/d')],
        ['unlink', () => active.unlink('/hello')],
        ['rename', () => active.rename('/hello', '/bye')],
        ['chmod', () => active.chmod('/hello', 0o600)],
        ['truncate', () => active.truncate('/hello', 1)],
        ['open r+', () => active.open('/hello', 'r+')],
        ['symlink', () => active.symlink('/hello', '/s')],
      ];
      const codes: Record<string, string | undefined> = {};
      for (const [name, call] of writes) codes[name] = (await rejection(call())).code;
      expect(codes).toEqual(Object.fromEntries(writes.map(([name]) => [name, 'EROFS'])));
      expect(await (await store.mount('active')).readFile('/hello', 'utf8')).toBe('hello');
    } finally {
      await store.close();
    }
    expect(await files()).toEqual(before);
  });

  it('of a directory that holds no store reject with ENOENT and create nothing', async () => {
    const dir = await dirs.make();
    expect((await rejection(openDisk(join(dir, 'missing'), { readOnly: true }))).code).toBe('ENOENT');
    expect((await rejection(openDisk(dir, { readOnly: true }))).code).toBe('ENOENT');
  });
});

describe('the config of a store directory', () => {
  it('fixes the block size: reopening with another rejects with EINVAL, without one takes the stored one', async () => {
    const dir = await storeWithOneSnapshot();
    const error = await rejection(openDisk(dir, { blockSize: 8192 }));
    expect(error.code).toBe('EINVAL');
    const store = await openDisk(dir, { blockSize: undefined });
    try {
      expect(store.blockSize).toBe(4096);
    } finally {
      await store.close();
    }
    // The refused open left no lock behind.
    const again = await openDisk(dir);
    await again.close();
  });

  it('of a newer format version is refused with a clear EINVAL, and the store is left as it was', async () => {
    const dir = await storeWithOneSnapshot();
    const path = join(dir, 'config');
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ magic: 'cowstack-store', version: 1, blockSize: 4096 });
    const newer = `${JSON.stringify({ ...config, version: 2 })}\n`;
    await writeFile(path, newer);
    const error = await rejection(openDisk(dir));
    expect(error.code).toBe('EINVAL');
    expect(error.message).toMatch(/version 2/);
    expect(error.message).toMatch(/newer/);
    expect((await rejection(openDisk(dir, { readOnly: true }))).code).toBe('EINVAL');
    expect(await readFile(path, 'utf8')).toBe(newer);
  });

  it('that is not a cowstack config is refused (EINVAL or EINTEGRITY), never overwritten', async () => {
    const dir = await storeWithOneSnapshot();
    const path = join(dir, 'config');
    for (const bytes of ['{"magic":"something-else","version":1,"blockSize":4096}\n', 'not json at all']) {
      await writeFile(path, bytes);
      const error = await rejection(openDisk(dir));
      expect(['EINVAL', 'EINTEGRITY']).toContain(error.code);
      expect(await readFile(path, 'utf8')).toBe(bytes);
    }
  });
});
