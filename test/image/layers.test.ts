import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { exportLayer } from '../../src/image/layerExport.js';
import { importLayer } from '../../src/image/layerImport.js';
import { TarReader, gzip, isGzip, maybeGunzip, type TarEntryHeader } from '../../src/image/tar/index.js';
import {
  END_OF_ARCHIVE, applyOps, changeOps, collect, content, createOps, dumpHost, dumpLayer, keys, makeTar, openMemoryStore, rawEntry,
  type TarInput,
} from './kit.js';

const T = 1_600_000_000_000;

async function listTar(bytes: Uint8Array): Promise<TarEntryHeader[]> {
  const out: TarEntryHeader[] = [];
  for await (const { header } of new TarReader(maybeGunzip(Readable.from([bytes])))) out.push(header);
  return out;
}

/** Commits a snapshot `key` on `parent` made by `build`. */
async function snapshot(store: Store, key: string, parent: string | undefined, build: (layer: Awaited<ReturnType<Store['prepare']>>) => Promise<void>): Promise<void> {
  const layer = await store.prepare(`${key}-work`, parent);
  await build(layer);
  await store.commit(key, `${key}-work`);
}

describe('exportLayer → importLayer round trip', () => {
  it('keeps random trees, built from nothing (content, modes with setuid, owners, mtimes, symlinks, hard links)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(createOps, { minLength: 1, maxLength: 25 }), fc.boolean(), async (ops, compressed) => {
        const store = await openMemoryStore();
        try {
          await snapshot(store, 'src', undefined, (layer) => applyOps(layer, ops));
          const tar = await collect(exportLayer(store, 'src', { base: null, gzip: compressed }));
          expect(isGzip(tar)).toBe(compressed);
          await importLayer(store, 'copy', undefined, tar);
          expect(await dumpLayer(await store.mount('copy'))).toEqual(await dumpLayer(await store.mount('src')));
          // The same layer twice gives byte-identical archives.
          expect((await collect(exportLayer(store, 'src', { base: null, gzip: compressed }))).equals(tar)).toBe(true);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40 },
    );
  });

  it('keeps random changes on a base: deletions, a directory replaced by a file and back, directories deleted and made again', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(createOps, { minLength: 1, maxLength: 20 }),
        fc.array(changeOps, { minLength: 1, maxLength: 20 }),
        async (baseOps, topOps) => {
          const store = await openMemoryStore();
          try {
            await snapshot(store, 'base', undefined, (layer) => applyOps(layer, baseOps));
            await snapshot(store, 'top', 'base', (layer) => applyOps(layer, topOps));
            const tar = await collect(exportLayer(store, 'top'));
            await importLayer(store, 'copy', 'base', tar);
            expect(await dumpLayer(await store.mount('copy'))).toEqual(await dumpLayer(await store.mount('top')));
            // Symbolic links keep their own owner and time too: the copy equals the original.
            const differences: string[] = [];
            for await (const change of store.diff('copy', 'top')) differences.push(`${change.kind} ${change.path}`);
            expect(differences).toEqual([]);
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('writes a directory deleted and made again as the directory, an opaque whiteout, and all it holds', async () => {
    const store = await openMemoryStore();
    await snapshot(store, 'base', undefined, async (layer) => {
      await layer.mkdir('/d');
      await layer.writeFile('/d/old', 'old');
      await layer.writeFile('/d/kept', 'same');
      await layer.utimes('/d', new Date(T), new Date(T));
    });
    await snapshot(store, 'top', 'base', async (layer) => {
      await layer.rm('/d', { recursive: true });
      await layer.mkdir('/d');
      await layer.writeFile('/d/kept', 'same');
      await layer.utimes('/d/kept', new Date(T), new Date(T));
      await layer.utimes('/d', new Date(T), new Date(T));
      await layer.utimes('/', new Date(T), new Date(T));
    });
    const names = (await listTar(await collect(exportLayer(store, 'top')))).map((header) => header.path);
    expect(names).toEqual(['./', 'd/', 'd/.wh..wh..opq', 'd/kept']);
    await importLayer(store, 'copy', 'base', await collect(exportLayer(store, 'top')));
    expect(await (await store.mount('copy')).readdir('/d')).toEqual(['kept']);
    await store.close();
  });

  it('writes deletions as whiteouts, parents first, and a new name of an unchanged inode as a hard link to it', async () => {
    const store = await openMemoryStore();
    await snapshot(store, 'base', undefined, async (layer) => {
      await layer.mkdir('/etc/deep', { recursive: true });
      await layer.writeFile('/etc/deep/gone', 'x');
      await layer.writeFile('/etc/big', content(50_000, 7));
    });
    await snapshot(store, 'top', 'base', async (layer) => {
      await layer.unlink('/etc/deep/gone');
      await layer.link('/etc/big', '/etc/deep/big-again');
    });
    const tar = await collect(exportLayer(store, 'top'));
    const headers = await listTar(tar);
    expect(headers.map((header) => [header.path, header.type, header.linkTarget])).toEqual([
      ['etc/', 'directory', ''],
      ['etc/deep/', 'directory', ''],
      ['etc/deep/.wh.gone', 'file', ''],
      ['etc/deep/big-again', 'hardlink', 'etc/big'],
    ].sort((a, b) => (a[0]!.replace('.wh.', '') < b[0]!.replace('.wh.', '') ? -1 : 1)));
    expect(headers.map((header) => [header.path, header.type, header.linkTarget])).toEqual([
      ['etc/', 'directory', ''],
      ['etc/deep/', 'directory', ''],
      ['etc/deep/big-again', 'hardlink', 'etc/big'],
      ['etc/deep/.wh.gone', 'file', ''],
    ]);
    expect(tar.length).toBeLessThan(10_000); // the content was not written again
    await importLayer(store, 'copy', 'base', tar);
    const copy = await store.mount('copy');
    expect((await copy.stat('/etc/big')).ino).toBe((await copy.stat('/etc/deep/big-again')).ino);
    expect(await copy.readdir('/etc/deep')).toEqual(['big-again']);
    await store.close();
  });

  it('reports progress and stops on abort', async () => {
    const store = await openMemoryStore();
    await snapshot(store, 'src', undefined, async (layer) => {
      for (let i = 0; i < 20; i++) await layer.writeFile(`/f${i}`, content(100_000, i));
    });
    const seen: number[] = [];
    const tar = await collect(exportLayer(store, 'src', { onProgress: (p) => seen.push(p.done) }));
    expect(seen.at(-1)).toBe(tar.length);
    const controller = new AbortController();
    const stream = exportLayer(store, 'src', { signal: controller.signal });
    let read = 0;
    await expect(
      (async () => {
        for await (const chunk of stream) {
          read += (chunk as Buffer).length;
          if (read > 200_000) controller.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(read).toBeLessThan(tar.length);
    await store.close();
  });

  it('errors the stream for a missing snapshot', async () => {
    const store = await openMemoryStore();
    await expect(collect(exportLayer(store, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
    await store.close();
  });
});

describe('importLayer semantics (image-spec "Applying Changesets")', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openMemoryStore();
    await snapshot(store, 'base', undefined, async (layer) => {
      await layer.mkdir('/d/sub', { recursive: true });
      await layer.writeFile('/d/a', 'a');
      await layer.writeFile('/d/sub/b', 'b');
      await layer.writeFile('/file', 'file');
      await layer.mkdir('/keep');
      await layer.writeFile('/keep/x', 'x');
      await layer.symlink('/d', '/link');
      for (const path of ['/d/sub', '/d', '/keep', '/']) await layer.utimes(path, new Date(T), new Date(T));
    });
  });
  afterAll(() => store.close());

  const apply = async (key: string, entries: TarInput[], parent = 'base'): Promise<Awaited<ReturnType<Store['mount']>>> => {
    await importLayer(store, key, parent, await makeTar(entries));
    return store.mount(key);
  };

  it('deletes with .wh.NAME (a whole directory too) and keeps the parent directory time when it is not in the layer', async () => {
    const layer = await apply('wh', [
      { header: { path: 'd/.wh.sub', type: 'file' } },
      { header: { path: '.wh.file', type: 'file' } },
      { header: { path: '.wh.link', type: 'file' } },
      { header: { path: '.wh.absent', type: 'file' } },
      { header: { path: 'nowhere/.wh.x', type: 'file' } },
    ]);
    expect(await layer.readdir('/')).toEqual(['d', 'keep']);
    expect(await layer.readdir('/d')).toEqual(['a']);
    expect((await layer.stat('/d')).mtimeMs).toBe(T);
    expect((await layer.stat('/')).mtimeMs).toBe(T);
  });

  it('hides with an opaque whiteout what the parent had, not what the same layer adds, before or after it', async () => {
    for (const [key, order] of [['opq1', 'before'], ['opq2', 'after']] as const) {
      const opaque: TarInput = { header: { path: 'd/.wh..wh..opq', type: 'file' } };
      const added: TarInput[] = [
        { header: { path: 'd/', type: 'directory', mode: 0o711, mtimeMs: T + 5000 } },
        { header: { path: 'd/sub/', type: 'directory', mtimeMs: T } },
        { header: { path: 'd/sub/new', type: 'file' }, body: Buffer.from('new') },
        { header: { path: 'd/c', type: 'file' }, body: Buffer.from('c') },
      ];
      const layer = await apply(key, order === 'before' ? [opaque, ...added] : [...added, opaque]);
      expect(await layer.readdir('/d')).toEqual(['c', 'sub']);
      expect(await layer.readdir('/d/sub')).toEqual(['new']);
      const stats = await layer.stat('/d');
      expect([stats.mode & 0o7777, stats.mtimeMs]).toEqual([0o711, T + 5000]);
    }
  });

  it('never lets a whiteout hide an entry of its own layer, whichever comes first', async () => {
    const layer = await apply('wh-order', [
      { header: { path: 'file', type: 'file' }, body: Buffer.from('new') },
      { header: { path: '.wh.file', type: 'file' } },
      { header: { path: '.wh.keep', type: 'file' } },
      { header: { path: 'keep/', type: 'directory' } },
    ]);
    expect(await layer.readFile('/file', 'utf8')).toBe('new');
    expect(await layer.readdir('/keep')).toEqual([]);
    // A whiteout of a directory that holds entries of this layer hides only what was below.
    const second = await apply('wh-under', [
      { header: { path: 'd/new', type: 'file' }, body: Buffer.from('n') },
      { header: { path: '.wh.d', type: 'file' } },
    ]);
    expect(await second.readdir('/d')).toEqual(['new']);
  });

  it('replaces a directory by a file and a file by a directory; merges a directory over a directory', async () => {
    const layer = await apply('replace', [
      { header: { path: 'd', type: 'file', mode: 0o600 }, body: Buffer.from('now a file') },
      { header: { path: 'file/', type: 'directory', mode: 0o700 } },
      { header: { path: 'file/inside', type: 'file' }, body: Buffer.from('i') },
      { header: { path: 'keep/', type: 'directory', mode: 0o1777, uid: 7, gid: 8, mtimeMs: T + 1000 } },
    ]);
    expect(await layer.readFile('/d', 'utf8')).toBe('now a file');
    expect(await layer.readdir('/file')).toEqual(['inside']);
    const keep = await layer.stat('/keep');
    expect([keep.mode & 0o7777, keep.uid, keep.gid, keep.mtimeMs]).toEqual([0o1777, 7, 8, T + 1000]);
    expect(await layer.readdir('/keep')).toEqual(['x']);
  });

  it('keeps modes (setuid, setgid, sticky), owners and mtimes, setting directory times after their children', async () => {
    const layer = await apply('meta', [
      { header: { path: 'bin/', type: 'directory', mode: 0o2755, uid: 3, gid: 4, mtimeMs: T + 1000 } },
      { header: { path: 'bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtimeMs: T + 2000 }, body: Buffer.from('su') },
      { header: { path: 'bin/tool', type: 'file', mode: 0o711, uid: 1000, gid: 100, mtimeMs: T + 3000 }, body: content(9000, 1) },
      { header: { path: 'bin/tool2', type: 'hardlink', linkTarget: 'bin/tool', mode: 0o711, uid: 1000, gid: 100, mtimeMs: T + 3000 } },
      { header: { path: 'bin/sh', type: 'symlink', linkTarget: 'tool' } },
      { header: { path: 'tmp/', type: 'directory', mode: 0o1777, mtimeMs: T + 4000 } },
      { header: { path: 'implicit/deep/f', type: 'file', mtimeMs: T } },
    ]);
    const stat = async (path: string): Promise<number[]> => {
      const s = await layer.lstat(path);
      return [s.mode & 0o7777, s.uid, s.gid, s.mtimeMs];
    };
    expect(await stat('/bin')).toEqual([0o2755, 3, 4, T + 1000]);
    expect(await stat('/bin/su')).toEqual([0o4755, 0, 0, T + 2000]);
    expect(await stat('/bin/tool')).toEqual([0o711, 1000, 100, T + 3000]);
    expect(await stat('/tmp')).toEqual([0o1777, 0, 0, T + 4000]);
    expect(await stat('/implicit')).toEqual([0o755, 0, 0, 0]);
    expect(await stat('/implicit/deep')).toEqual([0o755, 0, 0, 0]);
    expect((await layer.stat('/bin/tool2')).ino).toBe((await layer.stat('/bin/tool')).ino);
    expect((await layer.stat('/bin/tool2')).nlink).toBe(2);
    expect(await layer.readlink('/bin/sh')).toBe('tool');
    expect((await layer.readFile('/bin/sh')).equals(content(9000, 1))).toBe(true);
    expect((await layer.stat('/')).mtimeMs).toBe(T);
  });

  it('links to a file of the parent snapshot, and replaces a symbolic link rather than writing through it', async () => {
    const layer = await apply('links', [
      { header: { path: 'keep/x-again', type: 'hardlink', linkTarget: './keep/x' } },
      { header: { path: 'link', type: 'file' }, body: Buffer.from('not a link now') },
    ]);
    expect((await layer.stat('/keep/x-again')).ino).toBe((await layer.stat('/keep/x')).ino);
    expect(await layer.readFile('/link', 'utf8')).toBe('not a link now');
    expect(await layer.readdir('/d')).toEqual(['a', 'sub']);
  });

  it('takes umoci\'s "." root entry', async () => {
    const tar = Buffer.concat([rawEntry({ name: '.', typeflag: '5', mode: 0o750 }), rawEntry({ name: 'u', body: Buffer.from('u') }), END_OF_ARCHIVE]);
    await importLayer(store, 'umoci-root', 'base', tar);
    const layer = await store.mount('umoci-root');
    expect((await layer.stat('/')).mode & 0o7777).toBe(0o750);
    expect((await layer.stat('/')).mtimeMs).toBe(1_600_000_000_000);
    expect(await layer.readFile('/u', 'utf8')).toBe('u');
  });

  it('takes GNU tar\'s "./" names, the root entry setting the root\'s metadata', async () => {
    const layer = await apply('dot', [
      { header: { path: './', type: 'directory', mode: 0o700, uid: 5, gid: 6, mtimeMs: T + 9000 } },
      { header: { path: './new/', type: 'directory', mtimeMs: T } },
      { header: { path: './new/f', type: 'file' }, body: Buffer.from('f') },
    ]);
    const root = await layer.stat('/');
    expect([root.mode & 0o7777, root.uid, root.gid, root.mtimeMs]).toEqual([0o700, 5, 6, T + 9000]);
    expect(await layer.readFile('/new/f', 'utf8')).toBe('f');
  });

  it('gives the same tree whenever it runs (implicit and touched directories get fixed times)', async () => {
    const entries: TarInput[] = [
      { header: { path: 'd/added', type: 'file', mtimeMs: T } },
      { header: { path: 'keep/.wh.x', type: 'file' } },
      { header: { path: 'fresh/dir/f', type: 'file', mtimeMs: T } },
    ];
    await apply('same1', entries);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await apply('same2', entries);
    expect([...(await collect2(store.diff('same1', 'same2')))]).toEqual([]);
  });

  it('reads gzip, a path, and a stream; reports progress in source bytes; leaves nothing behind on abort', async () => {
    const tar = await makeTar([{ header: { path: 'big', type: 'file' }, body: content(300_000, 3) }]);
    const gz = await collect(gzip(Readable.from([tar])));
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-layer-'));
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(join(dir, 'layer.tar.gz'), gz);
      const seen: Array<{ done: number; total?: number }> = [];
      await importLayer(store, 'from-path', undefined, join(dir, 'layer.tar.gz'), { onProgress: (p) => seen.push(p) });
      expect(seen.at(-1)).toEqual({ done: gz.length, total: gz.length, unit: 'bytes' });
      await importLayer(store, 'from-stream', undefined, Readable.from([gz]));
      for (const key of ['from-path', 'from-stream']) expect((await (await store.mount(key)).readFile('/big')).equals(content(300_000, 3))).toBe(true);
      await expect(importLayer(store, 'nope', undefined, join(dir, 'missing.tar'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const before = await keys(store);
    const controller = new AbortController();
    controller.abort();
    await expect(importLayer(store, 'aborted', undefined, tar, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    const late = new AbortController();
    const slow = Readable.from((async function* () {
      yield tar.subarray(0, 1024);
      late.abort();
      await new Promise((resolve) => setTimeout(resolve, 5));
      yield tar.subarray(1024);
    })());
    await expect(importLayer(store, 'aborted', undefined, slow, { signal: late.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(await keys(store)).toEqual(before);
  });

  it('rejects a taken key with EEXIST and a missing parent with ENOENT, leaving nothing', async () => {
    const tar = await makeTar([{ header: { path: 'f', type: 'file' } }]);
    const before = await keys(store);
    await expect(importLayer(store, 'base', undefined, tar)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(importLayer(store, 'orphan', 'missing', tar)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await keys(store)).toEqual(before);
  });
});

async function collect2<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Checks `check` on 15 generated cases, each with a fresh memory store and a host directory path (removed after). */
async function eachTreeCase<T>(arbitrary: fc.Arbitrary<T>, check: (store: Store, dir: string, value: T) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'cowstack-tree-'));
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        const store = await openMemoryStore();
        const dir = join(root, String(run++));
        try {
          await check(store, dir, value);
        } finally {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 15 },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

describe('exportTree → importTree', () => {
  // The host has no setuid, setgid or sticky from a snapshot (exportTree drops them).
  const host = { modeMask: 0o777 };

  it('keeps modes, owners, symlinks, hard links and mtimes of random trees', async () => {
    await eachTreeCase(fc.array(createOps, { minLength: 1, maxLength: 20 }), async (store, dir, ops) => {
      await snapshot(store, 'src', undefined, (layer) => applyOps(layer, ops));
      await store.exportTree('src', dir);
      expect(await dumpHost(dir, host)).toEqual(await dumpLayer(await store.mount('src'), host));
      await store.importTree('back', undefined, dir);
      expect(await dumpLayer(await store.mount('back'), host)).toEqual(await dumpLayer(await store.mount('src'), host));
    });
  });

  it('on a parent, makes the snapshot exactly the directory: what it lacks removed, types replaced, new blocks only', async () => {
    const cases = fc.tuple(fc.array(createOps, { minLength: 1, maxLength: 15 }), fc.array(changeOps, { minLength: 1, maxLength: 10 }));
    await eachTreeCase(cases, async (store, dir, [baseOps, changes]) => {
      await snapshot(store, 'base', undefined, (layer) => applyOps(layer, baseOps));
      await snapshot(store, 'changed', 'base', (layer) => applyOps(layer, changes));
      await store.exportTree('changed', dir);
      await store.importTree('imported', 'base', dir);
      expect(await dumpLayer(await store.mount('imported'), host)).toEqual(await dumpLayer(await store.mount('changed'), host));
      // Content the parent has is not stored again: the same new blocks as the snapshot exported.
      expect((await store.usage('imported')).blocks).toBe((await store.usage('changed')).blocks);
    });
  });
});
