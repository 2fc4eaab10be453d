import { describe, expect, it } from 'vitest';
import { TarReader } from '../../src/image/tar/index.js';
import { openStore, type Layer, type Store } from '../../src/index.js';
import { formatTree, listTree } from '../model/tree.js';

/**
 * Engine bugs the overlayfs oracle found (overlay-oracle.test.ts), each reduced to the calls that
 * show it. They need no kernel: the oracle found them, the engine alone shows them. Each test
 * states what shared/API.md or the doc comment of the code promises; each failed when found.
 */

async function stack(build: (base: Layer) => Promise<void>, change: (container: Layer) => Promise<void>): Promise<Store> {
  const store = await openStore({ workers: 0, blockSize: 4096 });
  const base = await store.prepare('base-work');
  await build(base);
  await store.commit('base', 'base-work');
  const container = await store.prepare('container', 'base');
  await change(container);
  await store.commit('final', 'container');
  return store;
}

async function tarNames(store: Store, key: string): Promise<string[]> {
  const names: string[] = [];
  for await (const { header } of new TarReader(store.exportLayer(key))) names.push(header.path);
  return names;
}

describe('exportLayer looks up the base without following its symbolic links', () => {
  // layerExport.ts `#isReplaced` asked the base for `lstat(path)`, which follows symbolic links in
  // the path's directories: where the base has a symbolic link and the snapshot a directory, the
  // base was asked about a path that is not in it. The doc comment: "A directory deleted and made
  // again (a directory at the same path in both, with another ino)". Fixed in c97ef9d.

  it('a directory where the parent had a looping symbolic link: the export must not fail with ELOOP', async () => {
    const store = await stack(
      async (base) => {
        await base.symlink('a', '/a'); // a -> a: every lookup through it loops
      },
      async (container) => {
        await container.rm('/a');
        await container.mkdir('/a/a', { recursive: true });
      },
    );
    try {
      // Before the fix: rejected with "ELOOP: too many symbolic links encountered, lstat '/a/a'".
      const names = await tarNames(store, 'final');
      expect(names).toContain('a/a/');
      // And the layer re-imports onto the base as the snapshot (API.md, importLayer/exportLayer).
      const chunks: Buffer[] = [];
      for await (const chunk of store.exportLayer('final')) chunks.push(chunk as Buffer);
      await store.importLayer('again', 'base', Buffer.concat(chunks));
      expect(formatTree(await listTree(await store.mount('again')))).toEqual(formatTree(await listTree(await store.mount('final'))));
    } finally {
      await store.close();
    }
  });

  it('a directory where the parent had a symbolic link to another directory: no opaque whiteout for a directory the base never had', async () => {
    const store = await stack(
      async (base) => {
        await base.mkdir('/x/s', { recursive: true });
        await base.symlink('/x', '/a');
      },
      async (container) => {
        await container.rm('/a');
        await container.mkdir('/a/s', { recursive: true });
      },
    );
    try {
      // Before the fix, `a/s/.wh..wh..opq` was written, because the base's /x/s (through /a -> /x)
      // has another inode than the new /a/s. /a/s is added, not deleted and made again.
      expect(await tarNames(store, 'final')).not.toContain('a/s/.wh..wh..opq');
    } finally {
      await store.close();
    }
  });
});
