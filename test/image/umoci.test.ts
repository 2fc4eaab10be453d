import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, chown, link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { chainIds } from '../../src/image/digest.js';
import { exportImage } from '../../src/image/imageExport.js';
import { importImage } from '../../src/image/imageImport.js';
import { applyOps, content, dumpHost, dumpLayer, keys, openMemoryStore, type TreeOp } from './kit.js';

const found = spawnSync('umoci', ['--version'], { encoding: 'utf8' });
const hasUmoci = found.status === 0;
const isRoot = process.getuid?.() === 0;

function umoci(...args: string[]): string {
  return execFileSync('umoci', args, { encoding: 'utf8' });
}

/** `umoci unpack` of `image` into a new bundle; the rootfs's path. */
function unpack(image: string, bundle: string): string {
  execFileSync('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', image, bundle], { encoding: 'utf8' });
  return join(bundle, 'rootfs');
}

describe.skipIf(!hasUmoci)(`images and umoci${hasUmoci ? '' : ' (skipped: umoci is not on PATH; apt-get install umoci)'}`, () => {
  let root: string;
  let store: Store;
  const options = isRoot ? {} : { skipOwners: true };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cowstack-umoci-'));
    store = await openMemoryStore();
  });
  afterAll(async () => {
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  it('imports a multi-layer image umoci made (deletions as whiteouts, a directory replaced by a file) as umoci unpacks it', async () => {
    const layout = join(root, 'made-by-umoci');
    umoci('init', '--layout', layout);
    umoci('new', '--image', `${layout}:base`);

    const first = unpack(`${layout}:base`, join(root, 'b1'));
    await mkdir(join(first, 'etc', 'sub'), { recursive: true });
    await mkdir(join(first, 'var', 'lib', 'db'), { recursive: true });
    await writeFile(join(first, 'etc', 'hello'), 'hello');
    await writeFile(join(first, 'etc', 'sub', 'x'), content(9000, 1));
    await writeFile(join(first, 'var', 'lib', 'db', 'y'), 'y');
    await symlink('hello', join(first, 'etc', 'link'));
    await link(join(first, 'etc', 'hello'), join(first, 'etc', 'hello2'));
    await writeFile(join(first, 'suid'), content(100, 2));
    await chmod(join(first, 'suid'), 0o4755);
    await mkdir(join(first, 'tmp'));
    await chmod(join(first, 'tmp'), 0o1777);
    if (isRoot) await chown(join(first, 'etc', 'sub', 'x'), 1000, 100);
    umoci('repack', '--image', `${layout}:v1`, join(root, 'b1'));

    const second = unpack(`${layout}:v1`, join(root, 'b2'));
    await rm(join(second, 'etc', 'sub'), { recursive: true });
    await rm(join(second, 'etc', 'hello2'));
    await rm(join(second, 'var', 'lib', 'db'), { recursive: true });
    await mkdir(join(second, 'var', 'lib', 'db'));
    await writeFile(join(second, 'var', 'lib', 'db', 'z'), 'z');
    await rm(join(second, 'tmp'), { recursive: true });
    await writeFile(join(second, 'tmp'), 'now a file');
    umoci('repack', '--image', `${layout}:v2`, join(root, 'b2'));

    const v2 = await importImage(store, layout, { tag: 'v2' });
    expect(await dumpLayer(await store.mount(v2.key), options)).toEqual(await dumpHost(unpack(`${layout}:v2`, join(root, 'b3')), options));
    const v1 = await importImage(store, layout, { tag: 'v1' });
    expect(v1.key).toBe(v2.parent);
    expect(await dumpLayer(await store.mount(v1.key), options)).toEqual(await dumpHost(unpack(`${layout}:v1`, join(root, 'b4')), options));
    expect(v2.labels['cowstack.history.created_by']).toBe('umoci repack');
    // umoci's base image has no layers: there is no snapshot to make of it.
    await expect(importImage(store, layout, { tag: 'base' })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('writes images umoci unpacks to the tree cowstack shows', async () => {
    const chain: Array<[string, TreeOp[]]> = [
      ['one', [
        { kind: 'dir', path: '/etc', mode: 0o755, uid: 0, gid: 0 },
        { kind: 'file', path: '/etc/passwd', mode: 0o644, uid: 0, gid: 0, size: 200, seed: 1 },
        { kind: 'file', path: '/bin/big', mode: 0o4755, uid: 0, gid: 0, size: 70_000, seed: 2 },
        { kind: 'hardlink', path: '/bin/big-link', from: 0 },
        { kind: 'symlink', path: '/bin/sh', target: 'big' },
        { kind: 'dir', path: '/srv/data', mode: 0o2770, uid: 1000, gid: 1000 },
        { kind: 'file', path: '/srv/data/old', mode: 0o600, uid: 1000, gid: 1000, size: 5000, seed: 3 },
      ]],
      ['two', [
        { kind: 'rm', path: '/etc/passwd' },
        { kind: 'recreate', path: '/srv/data', mode: 0o700 },
        { kind: 'file', path: '/srv/data/new', mode: 0o644, uid: 0, gid: 0, size: 10, seed: 4 },
        { kind: 'replace', path: '/bin/sh', seed: 5 },
      ]],
      ['three', [
        { kind: 'hardlink', path: '/etc/again', from: 1 },
        { kind: 'dir', path: '/tmp', mode: 0o1777, uid: 0, gid: 0 },
      ]],
    ];
    let parent: string | undefined;
    for (const [key, ops] of chain) {
      const layer = await store.prepare(`${key}-work`, parent);
      await applyOps(layer, ops);
      await store.commit(key, `${key}-work`);
      parent = key;
    }
    const layout = join(root, 'made-by-cowstack');
    const exported = await exportImage(store, 'three', layout, { tag: 'cow' });
    expect(umoci('stat', '--image', `${layout}:cow`)).toContain('LAYER');
    const rootfs = unpack(`${layout}:cow`, join(root, 'cow-bundle'));
    expect(await dumpHost(rootfs, options)).toEqual(await dumpLayer(await store.mount('three'), options));

    // And back: the image imports to the same tree, keyed by its chain IDs.
    const other = await openMemoryStore();
    const imported = await importImage(other, layout, { tag: 'cow' });
    expect(imported.key).toBe(chainIds(exported.diffIds)[2]);
    expect(await keys(other)).toHaveLength(3);
    expect(await dumpLayer(await other.mount(imported.key))).toEqual(await dumpLayer(await store.mount('three')));
    await other.close();
  });
});
