import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, link, lutimes, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { exportLayer } from '../../src/image/layerExport.js';
import { importLayer } from '../../src/image/layerImport.js';
import { applyOps, collect, content, dumpHost, dumpLayer, openMemoryStore, type TreeOp } from './kit.js';

const GNU_TAR = '/usr/bin/tar';
const version = existsSync(GNU_TAR) ? spawnSync(GNU_TAR, ['--version'], { encoding: 'utf8' }).stdout ?? '' : '';
const hasGnuTar = version.startsWith('tar (GNU tar)');
const isRoot = process.getuid?.() === 0;

function tar(args: string[]): string {
  return execFileSync(GNU_TAR, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
}

/** A tree with every kind of entry a layer holds, at whole-second times. */
const TREE: TreeOp[] = [
  { kind: 'dir', path: '/bin', mode: 0o755, uid: 0, gid: 0 },
  { kind: 'file', path: '/bin/su', mode: 0o4755, uid: 0, gid: 0, size: 4097, seed: 1 },
  { kind: 'file', path: '/bin/big', mode: 0o755, uid: 0, gid: 0, size: 70_000, seed: 2 },
  { kind: 'hardlink', path: '/bin/big-too', from: 0 },
  { kind: 'symlink', path: '/bin/sh', target: 'su' },
  { kind: 'dir', path: '/tmp', mode: 0o1777, uid: 0, gid: 0 },
  { kind: 'dir', path: '/home', mode: 0o755, uid: 0, gid: 0 },
  { kind: 'dir', path: '/home/ü ser', mode: 0o2750, uid: 1000, gid: 1000 },
  { kind: 'file', path: '/home/ü ser/empty', mode: 0o600, uid: 1000, gid: 1000, size: 0, seed: 3 },
  { kind: 'file', path: `/home/ü ser/${'long-name-'.repeat(12)}`, mode: 0o644, uid: 123456, gid: 65534, size: 100, seed: 4 },
];

describe.skipIf(!hasGnuTar)(`layers and GNU tar${hasGnuTar ? '' : ` (skipped: no GNU tar at ${GNU_TAR})`}`, () => {
  let root: string;
  let store: Store;
  let n = 0;
  const fresh = (): string => join(root, String(n++));

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cowstack-gnutar-'));
    store = await openMemoryStore();
    const layer = await store.prepare('work');
    await applyOps(layer, TREE);
    await store.commit('tree', 'work');
    const top = await store.prepare('work2', 'tree');
    await top.rm('/home', { recursive: true });
    await top.writeFile('/bin/su', content(10, 9), { mode: 0o4711 });
    await top.rm('/tmp', { recursive: true });
    await top.mkdir('/tmp', { mode: 0o1777 });
    await top.writeFile('/tmp/new', 'new');
    for (const path of ['/bin/su', '/tmp/new', '/tmp', '/bin', '/']) await top.utimes(path, new Date(1_700_000_000_000), new Date(1_700_000_000_000));
    await store.commit('changed', 'work2');
  });
  afterAll(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  describe('GNU tar reads our layers', () => {
    it.each([[false], [true]])('lists and extracts a full layer (gzip: %s) to the snapshot\'s tree', async (compressed) => {
      const file = join(root, `full-${n++}.tar${compressed ? '.gz' : ''}`);
      await writeFile(file, await collect(exportLayer(store, 'tree', { base: null, gzip: compressed })));
      const listing = tar(['-tvf', file]).trim().split('\n');
      expect(listing.some((line) => line.startsWith('-rwsr-xr-x 0/0') && line.endsWith('bin/su'))).toBe(true);
      expect(listing.some((line) => line.includes('bin/big-too link to bin/big'))).toBe(true);
      expect(listing.some((line) => line.includes('bin/sh -> su'))).toBe(true);
      const out = fresh();
      await mkdir(out);
      tar(['-xpf', file, '-C', out, '--numeric-owner']);
      const options = isRoot ? {} : { skipOwners: true };
      expect(await dumpHost(out, options)).toEqual(await dumpLayer(await store.mount('tree'), options));
    });

    it('lists a diff layer: whiteouts, the opaque directory, parents first', async () => {
      const file = join(root, 'diff.tar');
      await writeFile(file, await collect(exportLayer(store, 'changed')));
      expect(tar(['-tf', file]).trim().split('\n')).toEqual(['./', 'bin/', 'bin/su', '.wh.home', 'tmp/', 'tmp/.wh..wh..opq', 'tmp/new']);
    });
  });

  describe('layers GNU tar makes', () => {
    /** A host tree like TREE, with nanosecond times as a real file system has them. */
    async function hostTree(dir: string): Promise<void> {
      await mkdir(join(dir, 'bin'), { recursive: true });
      await writeFile(join(dir, 'bin', 'su'), content(4097, 1));
      await chmod(join(dir, 'bin', 'su'), 0o4755);
      await writeFile(join(dir, 'bin', 'big'), content(70_000, 2));
      await link(join(dir, 'bin', 'big'), join(dir, 'bin', 'big-too'));
      await symlink('su', join(dir, 'bin', 'sh'));
      await mkdir(join(dir, 'tmp'));
      await chmod(join(dir, 'tmp'), 0o1777);
      await mkdir(join(dir, 'home', 'ü ser'), { recursive: true });
      await chmod(join(dir, 'home', 'ü ser'), 0o2750);
      await writeFile(join(dir, 'home', 'ü ser', 'empty'), '');
      await writeFile(join(dir, 'home', 'ü ser', 'long-name-'.repeat(12)), content(100, 4));
      if (isRoot) {
        await chown(join(dir, 'home', 'ü ser'), 1000, 1000);
        await chown(join(dir, 'home', 'ü ser', 'long-name-'.repeat(12)), 123456, 65534);
      }
      const time = new Date(1_650_000_000_123);
      await lutimes(join(dir, 'bin', 'sh'), time, time);
      for (const path of ['bin/su', 'bin/big', 'home/ü ser/empty', 'home/ü ser', 'home', 'bin', 'tmp', '.']) {
        await utimes(join(dir, path), time, new Date(1_650_000_000_000 + path.length * 1111 + 0.5));
      }
    }

    it.each([[false], [true]])('imports `tar --format=pax -C dir -c .` (gzip: %s) as the directory\'s tree', async (compressed) => {
      const dir = fresh();
      await hostTree(dir);
      const file = join(root, `gnu-${n++}.tar${compressed ? '.gz' : ''}`);
      tar(['--format=pax', compressed ? '-czf' : '-cf', file, '-C', dir, '.']);
      const key = `gnu-${n++}`;
      await importLayer(store, key, undefined, file);
      expect(await dumpLayer(await store.mount(key))).toEqual(await dumpHost(dir));
    });

    it('applies whiteouts and opaque markers GNU tar archived as plain files', async () => {
      const dir = fresh();
      await mkdir(join(dir, 'bin'), { recursive: true });
      await writeFile(join(dir, 'bin', '.wh.big-too'), '');
      await mkdir(join(dir, 'home'));
      await writeFile(join(dir, 'home', '.wh..wh..opq'), '');
      await writeFile(join(dir, 'home', 'fresh'), 'f');
      const file = join(root, 'wh.tar');
      tar(['--format=pax', '-cf', file, '-C', dir, 'bin', 'home']);
      await importLayer(store, 'gnu-wh', 'tree', file);
      const layer = await store.mount('gnu-wh');
      expect(await layer.readdir('/bin')).toEqual(['big', 'sh', 'su']);
      expect(await layer.readdir('/home')).toEqual(['fresh']);
      expect((await layer.stat('/bin/big')).nlink).toBe(1);
    });
  });
});
