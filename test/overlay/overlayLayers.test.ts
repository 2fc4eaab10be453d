import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/index.js';
import { listTree } from '../model/tree.js';
import { comparableTree, listHostTree } from './hostTree.js';
import { detachAll, mountOverlay, overlayUnavailable, requireTools, Scratch, sh, sweepLeftovers } from './kernel.js';
import { OPAQUE_XATTR, writeOciLayer, writeSnapshotLayer } from './overlayLayers.js';

/**
 * The layer converters of overlayLayers.ts on one hand-made layer: what each writes on disk
 * (a whiteout device, an opaque mark, a hard-link group pulled up whole), and that the kernel,
 * mounting it over the base, shows the snapshot.
 */
const unavailable = await overlayUnavailable();

describe.skipIf(unavailable !== undefined)(`overlayfs layer directories${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, () => {
  let scratch: Scratch | undefined;
  let store: Store;
  const mounts: string[] = [];

  beforeAll(async () => {
    await sweepLeftovers();
    scratch = await Scratch.create();
    store = await openStore({ workers: 0, blockSize: 4096 });
    const base = await store.prepare('base-work');
    await base.mkdir('/d');
    await base.writeFile('/d/f', 'f');
    await base.writeFile('/d/g', 'g');
    await base.mkdir('/e');
    await base.writeFile('/e/x', 'x');
    await base.writeFile('/k', 'k');
    await base.link('/k', '/k2');
    await store.commit('base', 'base-work');
    const top = await store.prepare('top-work', 'base');
    await top.unlink('/d/f'); // a whiteout in a merged directory
    await top.rm('/e', { recursive: true });
    await top.mkdir('/e'); // made again: opaque, without x
    await top.writeFile('/e/y', 'y');
    await top.unlink('/k2'); // /k keeps one name: its link count changes
    await top.link('/k', '/k3'); // a new name of a lower inode
    await store.commit('top', 'top-work');
    await writeSnapshotLayer(store, 'base', scratch.path('base'));
    mounts.push(scratch.path('base-view'));
    await mountOverlay(scratch.path('base-view'), { lowers: [scratch.path('base'), await scratch.sub('empty')], readOnly: true });
  });

  afterAll(async () => {
    await detachAll(mounts);
    await store?.close();
    await scratch?.dispose();
  });

  const converters = [
    { name: 'writeSnapshotLayer (store.diff)', write: (dir: string) => writeSnapshotLayer(store, 'top', dir) },
    { name: 'writeOciLayer (exportLayer)', write: (dir: string) => writeOciLayer(store.exportLayer('top'), dir, scratch!.path('base-view')) },
  ];

  it.each(converters)('$name: whiteouts, an opaque directory, a hard-link group written whole', async ({ name, write }) => {
    const dir = scratch!.path(`top-${name.split(' ')[0]}`);
    const counts = await write(dir);
    for (const gone of ['d/f', 'k2']) {
      const st = await lstat(join(dir, gone));
      expect({ gone, char: st.isCharacterDevice(), rdev: st.rdev }).toEqual({ gone, char: true, rdev: 0 });
    }
    expect(await sh(requireTools().getfattr, ['--only-values', '-n', OPAQUE_XATTR, join(dir, 'e')])).toBe('y');
    const [k, k3] = [await lstat(join(dir, 'k')), await lstat(join(dir, 'k3'))];
    expect({ same: k.ino === k3.ino, nlink: k.nlink }).toEqual({ same: true, nlink: 2 });
    expect(counts).toMatchObject({ whiteouts: 2, opaque: 1 });

    const merged = scratch!.path(`merged-${name.split(' ')[0]}`);
    mounts.push(merged);
    await mountOverlay(merged, { lowers: [dir, scratch!.path('base'), scratch!.path('empty')], readOnly: true });
    expect(comparableTree(await listHostTree(merged))).toEqual(comparableTree(await listTree(await store.mount('top'))));
  });
});
