import { afterEach, describe, expect, it } from 'vitest';
import type { Layer, Store } from '../../src/index.js';
import { BLOCK, TempDirs, describeCheck, openDisk, pseudoRandomBytes } from './helpers.js';

/**
 * Everything a snapshot is survives close and reopen exactly: snapshot infos (kind, parent,
 * labels, created, updated), every entry's metadata (type, mode, owner, size, nlink, mtime,
 * ctime, link targets, hard-link groups), contents with holes and of files large enough for
 * deep block vectors, large directories, odd names; and what the store reports about them
 * (`stats()`, `usage()`, `diff()`).
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

interface EntryFacts {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  mtimeMs: number;
  ctimeMs: number;
  target?: string;
  sha?: string;
  /** The first path (in walk order) of the hard-link group, for files with nlink > 1. */
  group?: string;
}

async function facts(layer: Layer): Promise<EntryFacts[]> {
  const out: EntryFacts[] = [];
  const groups = new Map<string, string>();
  const visit = async (path: string): Promise<void> => {
    const st = await layer.lstat(path);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    const entry: EntryFacts = { path, type, mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
    if (type === 'symlink') entry.target = await layer.readlink(path);
    if (type === 'file') {
      const { createHash } = await import('node:crypto');
      entry.sha = createHash('sha256').update(await layer.readFile(path)).digest('hex');
      if (st.nlink > 1) {
        const ino = String(st.ino);
        entry.group = groups.get(ino) ?? path;
        groups.set(ino, entry.group);
      }
    }
    out.push(entry);
    if (type === 'dir') for (const name of await layer.readdir(path)) await visit(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  await visit('/');
  return out;
}

/** Everything observable about a store's snapshots, through the public API. */
async function describeStore(store: Store): Promise<unknown> {
  const snapshots: unknown[] = [];
  for await (const info of store.walk()) {
    const layer = await store.mount(info.key);
    const changes: unknown[] = [];
    for await (const change of store.diff(info.key)) changes.push(change);
    snapshots.push({
      info: { ...info, created: info.created.getTime(), updated: info.updated.getTime() },
      entries: await facts(layer),
      usage: await store.usage(info.key),
      diff: changes,
    });
  }
  return { stats: await store.stats(), snapshots };
}

describe('a disk store closed and reopened', () => {
  it('keeps every snapshot, entry and figure exactly', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir, { packTarget: 64 << 10 });
    const base = await store.prepare('base-work', undefined, { labels: { 'org.example/name': 'base', emoji: 'snowman ☃' } });
    await base.mkdir('/etc', { mode: 0o750 });
    await base.writeFile('/etc/hosts', '127.0.0.1 localhost\n', { mode: 0o600 });
    await base.chown('/etc/hosts', 1000, 1001);
    await base.symlink('/etc/hosts', '/hosts-link');
    await base.symlink('../nowhere/ünïcødé', '/dangling');
    await base.writeFile('/hard', 'linked');
    await base.link('/hard', '/etc/hard-too');
    await base.utimes('/hard', new Date(1_000_000_000_000), new Date(1_234_567_890_123));
    // Sparse and large: holes, and a vector deep enough for two levels of nodes.
    const sparse = await base.open('/sparse', 'w');
    await sparse.write(pseudoRandomBytes(BLOCK, 1), 0, BLOCK, 5 * BLOCK);
    await sparse.write(pseudoRandomBytes(100, 2), 0, 100, 4500 * BLOCK + 17);
    await sparse.close();
    await base.writeFile('/big', pseudoRandomBytes(70 * BLOCK + 3, 3));
    await base.mkdir('/many');
    for (let i = 0; i < 300; i++) await base.writeFile(`/many/entry-${i}`, i % 7 === 0 ? `content ${i}` : '');
    await base.writeFile('/naïve name with spaces', 'odd name');
    await store.commit('base', 'base-work', { labels: { kind: 'base' } });

    const child = await store.prepare('child', 'base', { labels: { role: 'container' } });
    await child.writeFile('/etc/hosts', '10.0.0.1 other\n');
    await child.rm('/many/entry-3');
    await child.chmod('/big', 0o700);
    const handle = await child.open('/big', 'r+');
    await handle.write(Buffer.from('one changed block'), 0, 17, 33 * BLOCK + 5);
    await handle.close();
    await store.view('look', 'base');
    await store.commit('middle', 'child', { keep: true });
    await child.appendFile('/hard', ' and appended');
    await store.update('base', { labels: { kind: 'base', updated: 'yes' } });

    const before = await describeStore(store);
    await store.close();
    const reopened = await openDisk(dir, { packTarget: 64 << 10 });
    try {
      expect(await describeStore(reopened)).toEqual(before);
      const report = await reopened.check();
      expect(report.ok, describeCheck(report)).toBe(true);
      // And the active snapshot is still writable where it was.
      const again = await reopened.mount('child');
      expect(again.readOnly).toBe(false);
      expect(await again.readFile('/hard', 'utf8')).toBe('linked and appended');
      expect(await (await reopened.mount('base')).readFile('/etc/hard-too', 'utf8')).toBe('linked');
    } finally {
      await reopened.close();
    }
    // Twice: a store reopened and closed without changes is the same again.
    const third = await openDisk(dir, { packTarget: 64 << 10 });
    try {
      expect(await describeStore(third)).toEqual(before);
    } finally {
      await third.close();
    }
  });

  it('keeps an active snapshot written after its last sync when closed cleanly', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir);
    const layer = await store.prepare('work');
    await layer.writeFile('/synced', 'synced');
    await layer.sync();
    await layer.writeFile('/after', 'written after sync, kept by close');
    await store.close();
    const reopened = await openDisk(dir);
    try {
      const again = await reopened.mount('work');
      expect(await again.readdir('/')).toEqual(['after', 'synced']);
      expect(await again.readFile('/after', 'utf8')).toBe('written after sync, kept by close');
    } finally {
      await reopened.close();
    }
  });

  it('starts a new store empty and keeps an empty store empty', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir);
    expect(await store.stats()).toEqual({ blockSize: BLOCK, blocks: 0, storedBytes: 0, snapshots: 0 });
    expect(store.dir).toBe(dir);
    await store.close();
    const reopened = await openDisk(dir);
    try {
      expect(await reopened.stats()).toEqual({ blockSize: BLOCK, blocks: 0, storedBytes: 0, snapshots: 0 });
      expect((await reopened.check()).ok).toBe(true);
    } finally {
      await reopened.close();
    }
  });
});
