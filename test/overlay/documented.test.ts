import { chmod, lstat, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Layer, type Store } from '../../src/index.js';
import { listTree } from '../model/tree.js';
import { comparableTree, listHostTree } from './hostTree.js';
import { detachAll, mountOverlay, overlayUnavailable, removeScratch, Scratch, sweepLeftovers } from './kernel.js';
import { writeSnapshotLayer } from './overlayLayers.js';

/**
 * The places where overlayfs departs from POSIX on purpose (Documentation/filesystems/overlayfs.rst,
 * "Non-standard behavior" and "Inode properties"), each as one small case: what the kernel does
 * without the option that fixes it, what it does with it, and that cowstack does what POSIX and
 * API.md say. The property test (overlay-oracle.test.ts) names these when it meets them.
 *
 * No symbolic links are involved, so calls go straight through the mount from this process.
 */
const unavailable = await overlayUnavailable();

describe.skipIf(unavailable !== undefined)(`overlayfs's documented differences${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, () => {
  let scratch: Scratch | undefined;
  let store: Store;
  let caseNo = 0;

  beforeAll(async () => {
    await sweepLeftovers();
    scratch = await Scratch.create();
  });

  afterAll(async () => {
    await scratch?.dispose();
  });

  /**
   * One committed layer made by `build`, written in overlayfs's format; a container on it in
   * cowstack; and a fresh overlay mount of it with the given options. `run` gets both.
   */
  async function withStack(
    build: (layer: Layer) => Promise<void>,
    options: { redirectDir?: boolean; index?: boolean },
    run: (container: Layer, merged: string) => Promise<void>,
  ): Promise<void> {
    const dir = await scratch!.sub(`case-${++caseNo}`);
    store = await openStore({ workers: 0, blockSize: 4096 });
    const merged = join(dir, 'merged');
    try {
      const base = await store.prepare('base-work');
      await build(base);
      await store.commit('base', 'base-work');
      await writeSnapshotLayer(store, 'base', join(dir, 'lower'));
      await scratch!.sub(`case-${caseNo}/upper`);
      await mountOverlay(merged, { lowers: [join(dir, 'lower'), await scratch!.sub(`case-${caseNo}/empty`)], upper: join(dir, 'upper'), work: join(dir, 'work'), ...options });
      await run(await store.prepare('container', 'base'), merged);
    } finally {
      await detachAll([merged]);
      await store.close();
      await removeScratch(dir);
    }
  }

  const lowerDir = async (layer: Layer): Promise<void> => {
    await layer.mkdir('/d');
    await layer.writeFile('/d/f', 'lower');
  };

  it('without redirect_dir, renaming a lower directory fails with EXDEV; cowstack renames it (API.md: never EXDEV)', async () => {
    await withStack(lowerDir, {}, async (container, merged) => {
      await expect(rename(join(merged, 'd'), join(merged, 'e'))).rejects.toMatchObject({ code: 'EXDEV' });
      await container.rename('/d', '/e');
      expect(await container.readFile('/e/f', 'utf8')).toBe('lower');
    });
  });

  it('with redirect_dir=on the kernel renames it too, to the same tree as cowstack', async () => {
    await withStack(lowerDir, { redirectDir: true }, async (container, merged) => {
      await rename(join(merged, 'd'), join(merged, 'e'));
      await container.rename('/d', '/e');
      expect(comparableTree(await listHostTree(merged))).toEqual(comparableTree(await listTree(container)));
    });
  });

  const lowerLinks = async (layer: Layer): Promise<void> => {
    await layer.writeFile('/f', 'lower');
    await layer.link('/f', '/g');
  };

  it('without index, copy-up breaks a lower hard link: a change through one name misses the other; cowstack keeps one inode', async () => {
    await withStack(lowerLinks, {}, async (container, merged) => {
      await chmod(join(merged, 'f'), 0o600);
      await writeFile(join(merged, 'f'), 'upper');
      const [f, g] = [await stat(join(merged, 'f')), await stat(join(merged, 'g'))];
      expect({ fIno: f.ino === g.ino, gMode: g.mode & 0o777, gNlink: g.nlink }).toEqual({ fIno: false, gMode: 0o644, gNlink: 2 });
      await container.chmod('/f', 0o600);
      await container.writeFile('/f', 'upper');
      const [cf, cg] = [await container.stat('/f'), await container.stat('/g')];
      expect({ same: cf.ino === cg.ino, gMode: cg.mode & 0o777, g: await container.readFile('/g', 'utf8'), nlink: cg.nlink }).toEqual({ same: true, gMode: 0o600, g: 'upper', nlink: 2 });
    });
  });

  it('with index=on the kernel keeps the lower hard link whole, as cowstack does', async () => {
    await withStack(lowerLinks, { index: true }, async (container, merged) => {
      await chmod(join(merged, 'f'), 0o600);
      await writeFile(join(merged, 'f'), 'upper');
      await container.chmod('/f', 0o600);
      await container.writeFile('/f', 'upper');
      expect(comparableTree(await listHostTree(merged))).toEqual(comparableTree(await listTree(container)));
    });
  });

  it("a merged directory's link count is 1 in overlayfs, 2 + subdirectories in cowstack (so the oracle leaves directories' counts out)", async () => {
    await withStack(
      async (layer) => {
        await layer.mkdir('/d/sub', { recursive: true });
      },
      { redirectDir: true, index: true },
      async (container, merged) => {
        await writeFile(join(merged, 'd', 'new'), '');
        await container.writeFile('/d/new', '');
        expect((await lstat(join(merged, 'd'))).nlink).toBe(1);
        expect((await container.lstat('/d')).nlink).toBe(3);
      },
    );
  });
});
