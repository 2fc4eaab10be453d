import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { importLayer, type ImportLayerOptions } from '../../src/image/layerImport.js';
import { LAYER_LIMITS } from '../../src/image/oci/limits.js';
import { gzip, type TarWriterHeader } from '../../src/image/tar/index.js';
import { END_OF_ARCHIVE, collect, keys, makeTar, openMemoryStore, rawEntry, type TarInput } from './kit.js';

let store: Store;
let before: { keys: string[]; stats: Awaited<ReturnType<Store['stats']>> };

beforeAll(async () => {
  store = await openMemoryStore();
  const layer = await store.prepare('work');
  await layer.mkdir('/d');
  await layer.writeFile('/d/file', 'parent data');
  await layer.writeFile('/file', 'a file');
  await layer.symlink('/d', '/link');
  await layer.symlink('../../../../etc', '/escape');
  await store.commit('base', 'work');
  await store.gc();
  before = { keys: await keys(store), stats: await store.stats() };
});
afterAll(() => store.close());

/** The import rejects with `code`, naming `entry`, and the store holds exactly what it held. */
async function expectRejected(source: Buffer | Readable, entry: string | undefined, code = 'EINVAL', options: ImportLayerOptions = {}): Promise<Error> {
  const error = await importLayer(store, 'bad', 'base', source, options).then(
    async () => {
      await store.remove('bad');
      return undefined;
    },
    (reason: unknown) => reason as Error,
  );
  expect(error, 'the import must fail').toBeInstanceOf(Error);
  expect(error).toMatchObject(entry === undefined ? { code } : { code, path: entry });
  expect(await keys(store)).toEqual(before.keys);
  await store.gc();
  expect(await store.stats()).toEqual(before.stats);
  return error!;
}

const file = (path: string, body = 'x'): TarInput => ({ header: { path, type: 'file' }, body: Buffer.from(body) });
const entry = (header: TarWriterHeader): TarInput => ({ header });

describe('names that would land outside the root', () => {
  it.each([
    ['../x'],
    ['a/../../x'],
    ['a/..'],
    ['/etc/passwd'],
    ['////x'],
    ['a//b'],
    ['a/./b'],
  ])('rejects %j', async (name) => {
    await expectRejected(await makeTar([file('ok'), file(name)]), name);
  });

  it.each([['/'], ['./.'], ['./..'], ['.//']])('rejects an entry named %j, file or directory', async (name) => {
    await expectRejected(await makeTar([file(name)]), name);
    await expectRejected(Buffer.concat([rawEntry({ name, typeflag: '5' }), END_OF_ARCHIVE]), name);
  });

  it('takes "." (umoci) and "./" (GNU tar) for the root only as directories', async () => {
    await expectRejected(await makeTar([file('.')]), '.');
    await expectRejected(Buffer.concat([rawEntry({ name: './', typeflag: '0' }), END_OF_ARCHIVE]), './');
    await expectRejected(await makeTar([entry({ path: '.', type: 'symlink', linkTarget: '/etc' })]), '.');
    await expectRejected(await makeTar([entry({ path: './', type: 'hardlink', linkTarget: 'file' })]), './');
  });

  it('rejects an empty name', async () => {
    await expectRejected(Buffer.concat([rawEntry({ name: '' }), END_OF_ARCHIVE]), '');
  });

  it('rejects a trailing "/" on a non-directory', async () => {
    await expectRejected(Buffer.concat([rawEntry({ name: 'f/', typeflag: '0', body: Buffer.from('x') }), END_OF_ARCHIVE]), 'f/');
  });

  it('rejects a NUL in a pax path (the tar reader does)', async () => {
    const pax: Array<[string, Uint8Array]> = [['path', Buffer.from('a\0/../../etc/passwd')]];
    await expectRejected(Buffer.concat([rawEntry({ name: 'stand-in', pax }), END_OF_ARCHIVE]), 'stand-in');
  });
});

describe('entries written through symbolic links', () => {
  it('rejects an entry below a symbolic link of the parent snapshot', async () => {
    await expectRejected(await makeTar([file('link/x')]), 'link/x');
    await expectRejected(await makeTar([file('escape/passwd')]), 'escape/passwd');
  });

  it('rejects an entry below a directory this archive replaced by a symbolic link', async () => {
    await expectRejected(
      await makeTar([entry({ path: 'x/', type: 'directory' }), file('x/ok'), entry({ path: 'x', type: 'symlink', linkTarget: '/d' }), file('x/evil')]),
      'x/evil',
    );
  });

  it('rejects an entry below a chain of links', async () => {
    await expectRejected(
      await makeTar([
        entry({ path: 'one', type: 'symlink', linkTarget: 'two/three' }),
        entry({ path: 'two/', type: 'directory' }),
        entry({ path: 'two/three', type: 'symlink', linkTarget: '../../..' }),
        file('one/x'),
      ]),
      'one/x',
    );
  });

  it('rejects a whiteout and a hard link reached through a symbolic link', async () => {
    await expectRejected(await makeTar([file('link/.wh.file', '')]), 'link/.wh.file');
    await expectRejected(await makeTar([entry({ path: 'h', type: 'hardlink', linkTarget: 'link/file' })]), 'h');
  });

  it('rejects an entry below a regular file', async () => {
    await expectRejected(await makeTar([file('file/x')]), 'file/x');
  });

  it('keeps a symbolic link whose target leaves the root: it resolves inside the layer', async () => {
    await importLayer(store, 'odd-link', 'base', await makeTar([entry({ path: 'up', type: 'symlink', linkTarget: '../../../../d/file' })]));
    expect(await (await store.mount('odd-link')).readFile('/up', 'utf8')).toBe('parent data');
    await store.remove('odd-link');
    await store.gc();
  });
});

describe('hard links', () => {
  it.each([
    ['outside the root', '../etc/passwd'],
    ['absolute', '/etc/passwd'],
    ['missing', 'nothing/here'],
    ['missing leaf', 'd/none'],
    ['a directory', 'd'],
    ['itself', 'self'],
    ['empty', ''],
  ])('rejects a target %s', async (_, target) => {
    const tar = target === ''
      ? Buffer.concat([rawEntry({ name: 'self', typeflag: '1', linkname: '' }), END_OF_ARCHIVE])
      : await makeTar([entry({ path: 'self', type: 'hardlink', linkTarget: target })]);
    await expectRejected(tar, 'self');
  });
});

describe('whiteout names', () => {
  it.each([['.wh.'], ['d/.wh.'], ['.wh..'], ['.wh...']])('rejects %j', async (name) => {
    await expectRejected(await makeTar([file(name, '')]), name);
  });

  it('rejects a .wh. name that is not a regular file, and a .wh. directory above an entry', async () => {
    await expectRejected(await makeTar([entry({ path: '.wh.d', type: 'directory' })]), '.wh.d/');
    await expectRejected(await makeTar([entry({ path: '.wh.x', type: 'symlink', linkTarget: 'y' })]), '.wh.x');
    await expectRejected(await makeTar([file('.wh.x/y')]), '.wh.x/y');
  });
});

describe('types a layer cannot hold', () => {
  it.each([
    ['a character device', { type: 'char', devMajor: 1, devMinor: 3 }],
    ['a 0/0 character device (an overlayfs whiteout, not an OCI tar one)', { type: 'char', devMajor: 0, devMinor: 0 }],
    ['a block device', { type: 'block', devMajor: 8, devMinor: 0 }],
    ['a FIFO', { type: 'fifo' }],
  ] as const)('rejects %s', async (_, fields) => {
    await expectRejected(await makeTar([file('ok'), entry({ path: 'd/file', ...fields })]), 'd/file');
  });

  it('rejects an unsupported typeflag and a GNU sparse file', async () => {
    await expectRejected(Buffer.concat([rawEntry({ name: 'dump', typeflag: 'D' }), END_OF_ARCHIVE]), 'dump');
    await expectRejected(Buffer.concat([rawEntry({ name: 'sparse', typeflag: 'S' }), END_OF_ARCHIVE]), 'sparse');
  });
});

describe('broken archives', () => {
  it('rejects a truncated archive', async () => {
    const tar = await makeTar([file('a'), { header: { path: 'big', type: 'file' }, body: Buffer.alloc(10_000, 1) }]);
    await expectRejected(tar.subarray(0, 5000), 'big');
    await expectRejected(tar.subarray(0, 700), undefined);
  });

  it('rejects a header whose checksum is wrong', async () => {
    const tar = await makeTar([file('a')]);
    tar[0] = 'b'.charCodeAt(0);
    await expectRejected(tar, undefined);
  });

  it('rejects a size field that lies', async () => {
    const lying = Buffer.concat([rawEntry({ name: 'liar', size: 1 << 20, body: Buffer.alloc(0) }), END_OF_ARCHIVE]);
    await expectRejected(lying, 'liar');
  });

  it('rejects corrupt and truncated gzip', async () => {
    const gz = await collect(gzip(Readable.from([await makeTar([file('a', 'hello'.repeat(1000))])])));
    await expectRejected(gz.subarray(0, gz.length - 10), undefined);
    const flipped = Buffer.from(gz);
    flipped[flipped.length - 5]! ^= 0xff;
    await expectRejected(flipped, undefined);
  });

  it('rejects a time a Date cannot hold', async () => {
    const pax: Array<[string, Uint8Array]> = [['mtime', Buffer.from('99999999999999999')]];
    await expectRejected(Buffer.concat([rawEntry({ name: 'future', pax }), END_OF_ARCHIVE]), 'future');
  });
});

describe('bombs stop at documented limits', () => {
  it('documents its defaults', () => {
    expect(LAYER_LIMITS).toEqual({ maxBytes: 64 * 1024 ** 3, maxEntries: 1_000_000, maxPathDepth: 1024 });
  });

  it('rejects more entries than maxEntries', async () => {
    const entries = Array.from({ length: 101 }, (_, i) => file(`f${i}`));
    await expectRejected(await makeTar(entries), 'f100', 'EINVAL', { limits: { maxEntries: 100 } });
  });

  it('rejects a path deeper than maxPathDepth (1024 by default), before touching the layer', async () => {
    const name = Array.from({ length: 1025 }, () => 'a').join('/');
    await expectRejected(await makeTar([file(name)]), name);
  });

  it('walks a directory once however many whiteouts name it (no CPU amplification)', async () => {
    const entries: TarInput[] = [];
    for (let i = 0; i < 3000; i++) entries.push(file(`d/new${i}`));
    for (let i = 0; i < 3000; i++) entries.push(file('.wh.d', ''));
    const started = Date.now();
    await importLayer(store, 'many-wh', 'base', await makeTar(entries));
    expect(Date.now() - started).toBeLessThan(10_000);
    const layer = await store.mount('many-wh');
    expect((await layer.readdir('/d')).length).toBe(3000);
    await store.remove('many-wh');
    await store.gc();
  });

  it('stops a gzip bomb at maxBytes, streaming it (never holding it)', async () => {
    const size = 1024 ** 3; // a 1 GiB file of zeros, made and compressed as it is read
    async function* bomb(): AsyncGenerator<Uint8Array> {
      yield (await makeTar([])).subarray(0, 0);
      yield rawEntry({ name: 'zeros', size, body: Buffer.alloc(0) });
      const zeros = Buffer.alloc(1 << 20);
      for (let sent = 0; sent < size; sent += zeros.length) yield zeros;
    }
    const heap = process.memoryUsage().heapUsed;
    const started = Date.now();
    await expectRejected(gzip(bomb()), undefined, 'EINVAL', { limits: { maxBytes: 32 << 20 } });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 << 20);
  });
});

describe('modes are metadata', () => {
  it('keeps setuid, setgid and sticky in stat().mode and never applies them on the host', async () => {
    await importLayer(store, 'suid', 'base', await makeTar([
      { header: { path: 'su', type: 'file', mode: 0o4755 }, body: Buffer.from('#!/bin/sh') },
      { header: { path: 'sg', type: 'file', mode: 0o2711 } },
      { header: { path: 'tmp', type: 'directory', mode: 0o1777 } },
    ]));
    const layer = await store.mount('suid');
    expect((await layer.stat('/su')).mode & 0o7777).toBe(0o4755);
    expect((await layer.stat('/sg')).mode & 0o7777).toBe(0o2711);
    expect((await layer.stat('/tmp')).mode & 0o7777).toBe(0o1777);
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-suid-'));
    try {
      await store.exportTree('suid', join(dir, 'out'));
      expect((await stat(join(dir, 'out', 'su'))).mode & 0o7777).toBe(0o755);
      expect((await stat(join(dir, 'out', 'tmp'))).mode & 0o7777).toBe(0o777);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await store.remove('suid');
    await store.gc();
  });
});
