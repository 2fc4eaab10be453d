import { describe, expect, it } from 'vitest';
import type { FsLikeError, Layer, Store } from './model/api.js';
import { openStore } from '../src/index.js';
import { storeFactories } from './conformance/storeFactories.js';

/**
 * One example per error code that shared/API.md names in its store and layer sections: each
 * checks the `code`, that `syscall` is a string, and the `path` where the call has one (layer
 * calls: the path as given; store calls name keys, not paths, so only code and syscall).
 */

async function rejection(promise: Promise<unknown>): Promise<FsLikeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as FsLikeError;
  }
  throw new Error('expected a rejection, but it resolved');
}

async function expectFsError(promise: Promise<unknown>, code: string, path?: string): Promise<FsLikeError> {
  const error = await rejection(promise);
  expect(error.code, error.message).toBe(code);
  expect(typeof error.syscall, `syscall of ${error.message}`).toBe('string');
  if (path !== undefined) expect(error.path, `path of ${error.message}`).toBe(path);
  return error;
}

describe.each(storeFactories)('errors on $name store', (factory) => {
  let store: Store;
  let layer: Layer;

  const fresh = async (): Promise<void> => {
    store = await factory.open();
    layer = await store.prepare('c');
    await layer.mkdir('/d');
    await layer.writeFile('/d/f', 'data');
    await layer.writeFile('/f', 'file');
    await layer.symlink('/loop', '/loop');
  };

  const withStore = (name: string, body: () => Promise<void>): void => {
    it(name, async () => {
      await fresh();
      try {
        await body();
      } finally {
        await store.close();
      }
    });
  };

  withStore('ENOENT: a missing path, a missing parent directory, a missing parent snapshot, a missing key', async () => {
    await expectFsError(layer.readFile('/missing'), 'ENOENT', '/missing');
    await expectFsError(layer.writeFile('/nodir/f', 'x'), 'ENOENT', '/nodir/f');
    await expectFsError(layer.stat('/missing'), 'ENOENT', '/missing');
    await expectFsError(store.prepare('c2', 'no-such-parent'), 'ENOENT');
    await expectFsError(store.mount('no-such-key'), 'ENOENT');
    await expectFsError(store.stat('no-such-key'), 'ENOENT');
    await expectFsError(store.remove('no-such-key'), 'ENOENT');
    await expectFsError(store.commit('n', 'no-such-key'), 'ENOENT');
  });

  withStore('EEXIST: mkdir on an existing name, wx on an existing file, a taken snapshot key', async () => {
    await expectFsError(layer.mkdir('/d'), 'EEXIST', '/d');
    await expectFsError(layer.open('/f', 'wx'), 'EEXIST', '/f');
    await expectFsError(layer.symlink('/x', '/f'), 'EEXIST', '/f');
    await expectFsError(store.prepare('c'), 'EEXIST');
    await store.commit('img', 'c', { keep: true });
    await expectFsError(store.commit('img', 'c'), 'EEXIST');
  });

  withStore('ENOTDIR: a file used as a directory', async () => {
    await expectFsError(layer.readdir('/f'), 'ENOTDIR', '/f');
    await expectFsError(layer.writeFile('/f/x', 'x'), 'ENOTDIR', '/f/x');
    await expectFsError(layer.rmdir('/f'), 'ENOTDIR', '/f');
  });

  withStore('EISDIR: a directory read or written as a file', async () => {
    await expectFsError(layer.readFile('/d'), 'EISDIR', '/d');
    await expectFsError(layer.writeFile('/d', 'x'), 'EISDIR', '/d');
    await expectFsError(layer.unlink('/d'), 'EISDIR', '/d');
  });

  withStore('ENOTEMPTY: rmdir of a non-empty directory, remove of a snapshot that is a parent', async () => {
    await expectFsError(layer.rmdir('/d'), 'ENOTEMPTY', '/d');
    await store.commit('img', 'c');
    await store.prepare('child', 'img');
    await expectFsError(store.remove('img'), 'ENOTEMPTY');
  });

  withStore('EINVAL: a .wh. name, readlink of a non-link, a parent that is not committed, a commit of a non-active key', async () => {
    await expectFsError(layer.writeFile('/.wh.x', 'x'), 'EINVAL', '/.wh.x');
    await expectFsError(layer.mkdir('/d/.wh..wh..opq'), 'EINVAL', '/d/.wh..wh..opq');
    await expectFsError(layer.readlink('/f'), 'EINVAL', '/f');
    await expectFsError(store.prepare('c2', 'c'), 'EINVAL');
    await expectFsError(store.view('v', 'c'), 'EINVAL');
    await store.commit('img', 'c');
    await expectFsError(store.commit('img2', 'img'), 'EINVAL');
  });

  withStore('ELOOP: a symlink loop', async () => {
    await expectFsError(layer.readFile('/loop'), 'ELOOP', '/loop');
    await expectFsError(layer.stat('/loop/x'), 'ELOOP', '/loop/x');
  });

  withStore('EROFS: a write to a view or to a mounted committed snapshot', async () => {
    await store.commit('img', 'c', { keep: true });
    const view = await store.view('v', 'img');
    expect(view.readOnly).toBe(true);
    await expectFsError(view.writeFile('/new', 'x'), 'EROFS', '/new');
    await expectFsError(view.mkdir('/e'), 'EROFS', '/e');
    const committed = await store.mount('img');
    expect(committed.readOnly).toBe(true);
    await expectFsError(committed.unlink('/f'), 'EROFS', '/f');
    expect((await view.readFile('/f')).toString()).toBe('file');
  });

  withStore('EBADF: a layer whose snapshot was committed without keep, or removed', async () => {
    const other = await store.mount('c');
    await store.commit('img', 'c');
    await expectFsError(layer.readFile('/f'), 'EBADF', '/f');
    await expectFsError(other.writeFile('/g', 'x'), 'EBADF', '/g');
    const c2 = await store.prepare('c2', 'img');
    await store.remove('c2');
    await expectFsError(c2.readdir('/'), 'EBADF', '/');
    // The key reused names a new snapshot: the old layer stays dead.
    await store.prepare('c', 'img');
    await expectFsError(layer.stat('/f'), 'EBADF', '/f');
  });

  withStore('EPERM: a hard link to a directory', async () => {
    await expectFsError(layer.link('/d', '/d2'), 'EPERM', '/d');
  });

  it('EBADF: every call after close(), on the store and on its layers', async () => {
    await fresh();
    await store.close();
    await expectFsError(layer.readFile('/f'), 'EBADF', '/f');
    await expectFsError(store.prepare('x'), 'EBADF');
    await expectFsError(store.stats(), 'EBADF');
  });
});

describe('EINVAL from openStore', () => {
  it.each([5000, 2048, 2 * 1048576, 0, 4096 + 1])('rejects blockSize %i (not a power of two from 4096 to 1048576)', async (blockSize) => {
    await expectFsError(openStore({ blockSize, workers: 0 }), 'EINVAL');
  });

  it.each([4096, 1048576])('accepts blockSize %i', async (blockSize) => {
    const store = await openStore({ blockSize, workers: 0 });
    expect(store.blockSize).toBe(blockSize);
    await store.close();
  });
});
