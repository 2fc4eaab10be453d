import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Change, FsLikeError, Layer, Store } from './model/api.js';
import { storeFactories } from './conformance/storeFactories.js';

/**
 * Engine bugs the union model test found, each shrunk to its smallest form. The expected answers
 * are Linux's as node:fs/promises reports them on ext4 (shared/API.md: "where this page is silent,
 * behave as node:fs/promises"), checked against the real kernel by test/model/host-oracle.sh.
 */

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as FsLikeError).code;
  }
}

describe.each(storeFactories)('regressions on $name store', (factory) => {
  let store: Store;
  let layer: Layer;

  beforeEach(async () => {
    store = await factory.open();
    layer = await store.prepare('c');
  });

  afterEach(async () => {
    await store.close();
  });

  it('1. rm with force resolves when a parent directory is missing (node: only ENOENT is forgiven, and that is one)', async () => {
    expect(await codeOf(layer.rm('/missing/child', { force: true }))).toBeUndefined();
    expect(await codeOf(layer.rm('/missing/child', { recursive: true, force: true }))).toBeUndefined();
  });

  it('2. rename resolves both parents before looking for the source: a file as target parent is ENOTDIR', async () => {
    await layer.writeFile('/f', 'x');
    expect(await codeOf(layer.rename('/missing', '/f/x'))).toBe('ENOTDIR');
  });

  it('3. a `.` component needs a directory before it: `x/.` is not `x`', async () => {
    expect(await codeOf(layer.writeFile('/x/.', 'hi'))).toBe('ENOENT');
    expect(await layer.readdir('/')).toEqual([]);
    await layer.writeFile('/f', 'file');
    expect(await codeOf(layer.readFile('/f/.'))).toBe('ENOTDIR');
    expect(await codeOf(layer.lstat('/f/.'))).toBe('ENOTDIR');
    expect(await codeOf(layer.rm('/f/.'))).toBe('ENOTDIR');
    expect(await layer.readdir('/')).toEqual(['f']);
    await layer.symlink('a/.', '/b');
    expect(await codeOf(layer.writeFile('/b', ''))).toBe('ENOENT');
    expect(await layer.readdir('/')).toEqual(['b', 'f']);
  });

  it('4. mkdir -p does not create through a dangling symlink (node: ENOTDIR for an ancestor, ENOENT for the target)', async () => {
    await layer.symlink('/a', '/c');
    expect(['ENOTDIR', 'ENOENT']).toContain(await codeOf(layer.mkdir('/c/a', { recursive: true })));
    await layer.symlink('z', '/b');
    expect(await codeOf(layer.mkdir('/b', { recursive: true }))).toBe('ENOENT');
    expect(await layer.readdir('/')).toEqual(['b', 'c']);
  });

  it('5. rename onto an ancestor of the source is ENOTEMPTY, even for a file (Linux checks it before EISDIR)', async () => {
    await layer.mkdir('/a');
    await layer.writeFile('/a/a', '');
    expect(await codeOf(layer.rename('/a/a', '/a'))).toBe('ENOTEMPTY');
  });

  it('6. diff lists / as modified when its mode or owner changed', async () => {
    await store.commit('img', 'c');
    const c2 = await store.prepare('c2', 'img');
    await c2.chmod('/', 0o700);
    const changes: Change[] = [];
    for await (const change of store.diff('c2')) changes.push(change);
    expect(changes).toContainEqual({ path: '/', kind: 'modified' });
  });
});
