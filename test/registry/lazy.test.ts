import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/index.js';
import { resolveRemoteImage } from '../../src/registry/remoteImage.js';
import { fetchBlockIndexes } from '../../src/registry/blockIndexArtifact.js';
import { RegistryClient } from '../../src/registry/RegistryClient.js';
import { parseReference } from '../../src/registry/Reference.js';
import type { Digest } from '../../src/image/digest.js';
import { dumpLayer, openMemoryStore } from '../image/kit.js';
import { registryFixture } from './fixture.js';
import { blobFile, hasRegistry, skipReason, startProxy, startRegistry, type Proxy, type Registry } from './harness.js';

/** Requests that fetched part of a blob (`Range`), and whole-blob downloads, in what the proxy saw. */
function blobReads(proxy: Proxy): { ranges: number; rangeBytes: number; whole: string[] } {
  const reads = proxy.requests.filter((request) => request.method === 'GET' && request.url.includes('/blobs/'));
  const ranged = reads.filter((request) => request.range !== undefined);
  return {
    ranges: ranged.length,
    rangeBytes: ranged.reduce((sum, request) => sum + request.bytesOut, 0),
    whole: reads.filter((request) => request.range === undefined).map((request) => request.url.replace(/^.*\/blobs\//, '')),
  };
}

/** Distinct data blocks (not holes) the files of snapshots reference, as a lazy pull must fetch them: how many, and their bytes. */
async function distinctBlocks(store: Store, ...keys: string[]): Promise<{ count: number; bytes: number }> {
  const ids = new Set<string>();
  for (const key of keys) await addBlocks(store, key, ids);
  return { count: ids.size, bytes: [...ids].reduce((sum, block) => sum + Buffer.from(block, 'base64').length, 0) };
}

async function addBlocks(store: Store, key: string, ids: Set<string>): Promise<void> {
  const layer = await store.mount(key);
  const dump = await dumpLayer(layer);
  for (const [path, node] of Object.entries(dump)) {
    if (node.type !== 'file') continue;
    const bytes = await layer.readFile(path);
    for (let at = 0; at < bytes.length; at += store.blockSize) {
      const block = bytes.subarray(at, at + store.blockSize);
      if (block.some((byte) => byte !== 0)) ids.add(block.toString('base64'));
    }
  }
}

describe.skipIf(!hasRegistry)(`lazy pull${skipReason}`, () => {
  const fixture = registryFixture();
  const ref = (name: string): string => `${fixture.proxy.host}/lazy/${name}`;
  let layerDigests: Digest[];

  beforeAll(async () => {
    await fixture.store.push('child', ref('image:v1'), { lazy: true });
    await fixture.store.push('child', ref('image:plain'));
    const client = new RegistryClient(parseReference(ref('image:v1')), {}, 'pull', 'pull');
    layerDigests = (await resolveRemoteImage(client, 'v1', 'pull')).layers.map((layer) => layer.digest);
  });

  it('makes the image mountable from its block indexes alone, then fetches each block once, by range, when first read', async () => {
    const store = await openMemoryStore();
    fixture.proxy.requests.length = 0;
    const info = await store.pull(ref('image:v1'), { lazy: true });
    expect(info.kind).toBe('committed');
    expect(blobReads(fixture.proxy)).toMatchObject({ ranges: 0 });
    expect(blobReads(fixture.proxy).whole.filter((digest) => layerDigests.includes(digest as Digest))).toEqual([]);
    expect((await store.stats()).blocks).toBe(0);
    const remote = await store.check();
    expect(remote).toMatchObject({ ok: true, blocksChecked: 0, problems: [] });
    // The chain's blocks: the bottom layer's (some of them changed or deleted above) and the top's.
    expect(remote.blocksRemote).toBe((await distinctBlocks(fixture.store, 'base', 'child')).count);
    const top = await distinctBlocks(fixture.store, 'child');

    // Metadata needs no block: listing and stat fetch nothing.
    fixture.proxy.requests.length = 0;
    const layer = await store.mount(info.key);
    expect((await layer.stat('/bin/tool')).size).toBe(200_000);
    expect(await layer.readdir('/')).toEqual(await (await fixture.store.mount('child')).readdir('/'));
    expect(fixture.proxy.requests).toEqual([]);

    // Every file read, byte for byte; each distinct block crossed the network once, by range
    // requests (a file's neighbouring blocks in one).
    expect(await dumpLayer(layer)).toEqual(await dumpLayer(await fixture.store.mount('child')));
    const reads = blobReads(fixture.proxy);
    expect(reads.whole).toEqual([]);
    expect(reads.rangeBytes).toBe(top.bytes);
    expect(reads.ranges).toBeLessThan(top.count);
    expect((await store.stats()).blocks).toBe(top.count);
    expect(await store.check()).toMatchObject({ ok: true, blocksRemote: remote.blocksRemote - top.count, blocksChecked: top.count });

    // Kept: a second read fetches nothing.
    fixture.proxy.requests.length = 0;
    expect(await dumpLayer(layer)).toEqual(await dumpLayer(await fixture.store.mount('child')));
    expect(fixture.proxy.requests).toEqual([]);
    await store.close();
  });

  it('streams a lazy file with one range request per run of blocks: a read stream asks for 1 MiB at a time', async () => {
    const store = await openMemoryStore();
    const info = await store.pull(ref('image:v1'), { lazy: true });
    fixture.proxy.requests.length = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of (await store.mount(info.key)).createReadStream('/bin/tool')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(await (await fixture.store.mount('child')).readFile('/bin/tool'))).toBe(true);
    // 49 blocks of 4 KiB, block 1 a hole: block 0, then blocks 2–48 side by side.
    expect(blobReads(fixture.proxy)).toMatchObject({ ranges: 2, rangeBytes: 200_000 - 4096 });
    await store.close();
  });

  it('reads ahead for a handle reading sequentially, fetching no byte the file does not have', async () => {
    const store = await openMemoryStore();
    const info = await store.pull(ref('image:v1'), { lazy: true });
    const expected = await (await fixture.store.mount('child')).readFile('/bin/tool');
    fixture.proxy.requests.length = 0;
    const handle = await (await store.mount(info.key)).open('/bin/tool');
    const read = Buffer.alloc(expected.length);
    for (let at = 0; at < read.length; at += 65536) await handle.read(read, at, Math.min(65536, read.length - at), at);
    await handle.close();
    expect(read.equals(expected)).toBe(true);
    // 64 KiB reads of 4 KiB blocks: the first read's blocks (0, hole, 2–15: two ranges), then the
    // second read with the window ahead of it, to the end of the file, in one range.
    expect(blobReads(fixture.proxy)).toMatchObject({ ranges: 3, rangeBytes: 200_000 - 4096 });
    // A read elsewhere closes the window: a random read fetches only its own blocks.
    const other = await openMemoryStore();
    const again = await other.pull(ref('image:v1'), { lazy: true });
    fixture.proxy.requests.length = 0;
    const random = await (await other.mount(again.key)).open('/bin/tool');
    await random.read(Buffer.alloc(4096), 0, 4096, 40 * 4096);
    await random.read(Buffer.alloc(4096), 0, 4096, 20 * 4096);
    await random.close();
    expect(blobReads(fixture.proxy)).toMatchObject({ ranges: 2, rangeBytes: 2 * 4096 });
    await Promise.all([store.close(), other.close()]);
  });

  it('gives a container on a lazy image block-level copy-on-write: one byte written fetches and stores one block', async () => {
    const store = await openMemoryStore();
    const info = await store.pull(ref('image:v1'), { lazy: true });
    const container = await store.prepare('c1', info.key);
    fixture.proxy.requests.length = 0;
    const file = await container.open('/bin/tool', 'r+');
    await file.write(Buffer.from('X'), 0, 1, 100_000);
    await file.close();
    expect(blobReads(fixture.proxy)).toMatchObject({ ranges: 1, rangeBytes: 4096 }); // the one block partly overwritten
    expect((await store.stats()).blocks).toBe(2); // that block as fetched, and as written
    const expected = Buffer.from(await (await fixture.store.mount('child')).readFile('/bin/tool'));
    expected[100_000] = 'X'.charCodeAt(0);
    expect((await container.readFile('/bin/tool')).equals(expected)).toBe(true);
    await store.commit('c1-done', 'c1');
    expect(await store.usage('c1-done')).toMatchObject({ blocks: 1, size: 4096 });
    await store.close();
  });

  it('pulls an image pushed without block indexes in full, as a plain pull', async () => {
    const store = await openMemoryStore();
    fixture.proxy.requests.length = 0;
    const info = await store.pull(ref('image:plain'), { lazy: true });
    expect(blobReads(fixture.proxy).ranges).toBe(0);
    expect(await store.check()).toMatchObject({ ok: true, blocksRemote: 0 });
    fixture.proxy.requests.length = 0;
    expect(await dumpLayer(await store.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
    expect(fixture.proxy.requests).toEqual([]);
    await store.close();
  });

  it('refuses a block tampered with in the registry (EINTEGRITY), keeps nothing of it, and serves the other blocks', async () => {
    const store = await openMemoryStore();
    const info = await store.pull(ref('image:v1'), { lazy: true });
    const client = new RegistryClient(parseReference(ref('image:v1')), {}, 'pull', 'pull');
    const [bottom] = await fetchBlockIndexes(client, await resolveRemoteImage(client, 'v1', 'pull'), 4096);
    const entry = bottom!.entries.find((item) => item.path === 'bin/tool')!;
    const path = blobFile(fixture.registry, bottom!.layer);
    const original = await readFile(path);
    const file = await open(path, 'r+');
    try {
      await file.write(Buffer.from([original[entry.offset! + 10]! ^ 1]), 0, 1, entry.offset! + 10);
      await file.close();
      const layer = await store.mount(info.key);
      await expect(layer.readFile('/bin/tool')).rejects.toMatchObject({ code: 'EINTEGRITY' });
      expect((await store.stats()).blocks).toBeLessThan(Math.ceil(200_000 / 4096));
      expect((await layer.readFile('/etc/hosts')).equals(await (await fixture.store.mount('child')).readFile('/etc/hosts'))).toBe(true);
    } finally {
      await writeFile(path, original);
    }
    const layer = await store.mount(info.key);
    expect((await layer.readFile('/bin/tool')).equals(await (await fixture.store.mount('child')).readFile('/bin/tool'))).toBe(true);
    await store.close();
  });

  it('resumes a range cut mid-block; past the retries it rejects with ECONNRESET, keeps nothing of it, and a later read works', async () => {
    const store = await openMemoryStore();
    const info = await store.pull(ref('image:v1'), { lazy: true });
    const layer = await store.mount(info.key);
    const expected = await (await fixture.store.mount('child')).readFile('/etc/hosts');
    const ranged = (method: string, url: string): boolean => method === 'GET' && url.includes('/blobs/');
    fixture.proxy.cut({ match: ranged, after: 100 });
    expect((await layer.readFile('/etc/hosts')).equals(expected)).toBe(true);
    expect((await store.stats()).blocks).toBe(2);

    const other = await openMemoryStore();
    const again = await other.pull(ref('image:v1'), { lazy: true });
    for (let i = 0; i < 3; i++) fixture.proxy.cut({ match: ranged, after: 100 }); // the first try and both retries
    const file = await (await other.mount(again.key)).open('/etc/hosts');
    await expect(file.read(Buffer.alloc(10), 0, 10, 0)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect((await other.stats()).blocks).toBe(0);
    expect((await file.readFile()).equals(expected)).toBe(true);
    await file.close();
    await Promise.all([store.close(), other.close()]);
  });

  it('keeps its sources in a durable store: reads after reopening, gc keeps a source while its blocks are needed, then drops it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-lazy-'));
    try {
      let store = await openStore({ dir, blockSize: 4096, workers: 0 });
      const info = await store.pull(ref('image:v1'), { lazy: true });
      await store.close();
      expect(sourceNames(await readFile(join(dir, 'sources')))).toHaveLength(1);

      store = await openStore({ dir, workers: 0 });
      const { blocksRemote } = await store.check();
      expect(blocksRemote).toBeGreaterThan(0);
      await store.gc();
      expect(sourceNames(await readFile(join(dir, 'sources')))).toHaveLength(1);
      fixture.proxy.requests.length = 0;
      expect((await (await store.mount(info.key)).readFile('/etc/hosts')).equals(await (await fixture.store.mount('child')).readFile('/etc/hosts'))).toBe(true);
      expect(blobReads(fixture.proxy)).toMatchObject({ ranges: 1, rangeBytes: 5000 }); // /etc/hosts: two blocks, side by side
      await store.close();

      // A read-only store serves fetched blocks without keeping them.
      store = await openStore({ dir, readOnly: true, workers: 0 });
      await (await store.mount(info.key)).readFile('/home/new');
      expect((await store.check()).blocksRemote).toBe(blocksRemote - 2);
      await store.close();

      store = await openStore({ dir, workers: 0 });
      expect(await dumpLayer(await store.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
      expect((await store.check()).blocksRemote).toBeGreaterThan(0); // the bottom layer's blocks the top hides
      await store.gc();
      expect(sourceNames(await readFile(join(dir, 'sources')))).toHaveLength(1);
      expect(await dumpLayer(await store.mount(info.parent!))).toEqual(await dumpLayer(await fixture.store.mount('base')));
      expect(await store.check()).toMatchObject({ ok: true, blocksRemote: 0 });
      await store.gc();
      expect(sourceNames(await readFile(join(dir, 'sources')))).toEqual([]);
      await store.close();

      // Every block stored: the image reads with no request to the registry.
      store = await openStore({ dir, workers: 0 });
      fixture.proxy.requests.length = 0;
      expect(await dumpLayer(await store.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
      expect(await dumpLayer(await store.mount(info.parent!))).toEqual(await dumpLayer(await fixture.store.mount('base')));
      expect(fixture.proxy.requests).toEqual([]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('drops the source of an image removed before it was read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-lazy-'));
    try {
      const store = await openStore({ dir, blockSize: 4096, workers: 0 });
      const info = await store.pull(ref('image:v1'), { lazy: true });
      await store.remove(info.key);
      await store.remove(info.parent!);
      expect(sourceNames(await readFile(join(dir, 'sources')))).toHaveLength(1);
      expect(await store.gc()).toEqual({ blocksRemoved: 0, bytesFreed: 0 });
      expect(sourceNames(await readFile(join(dir, 'sources')))).toEqual([]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The source names in a store's `sources` file (`SourceCatalog`'s format: the JSON after a 12-byte header). */
function sourceNames(file: Buffer): string[] {
  const json = JSON.parse(file.toString('utf8', 12, 12 + file.readUInt32LE(8))) as { sources: Array<{ name: string }> };
  return json.sources.map((source) => source.name);
}

describe.skipIf(!hasRegistry)(`lazy pull of a large image${skipReason}`, () => {
  const FILE_SIZE = 256 * 1024 * 1024;
  let registry: Registry;
  let proxy: Proxy;
  let store: Store;
  let data: Buffer;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.host);
    data = randomBytes(FILE_SIZE);
    const source = await openStore();
    try {
      const work = await source.prepare('work');
      await work.writeFile('/data.bin', data);
      await source.commit('big', 'work');
      await source.push('big', `${proxy.host}/big/image:v1`, { lazy: true });
    } finally {
      await source.close();
    }
    store = await openStore();
  }, 300_000);

  afterAll(async () => {
    await store?.close();
    await proxy?.stop();
    await registry?.stop();
  });

  it('reads 1 MiB of a 256 MiB file with under 2 % of the image transferred, every block matching', async () => {
    proxy.requests.length = 0;
    const info = await store.pull(`${proxy.host}/big/image:v1`, { lazy: true });
    const pulled = proxy.requests.reduce((sum, request) => sum + request.bytesOut, 0);
    const layer = await store.mount(info.key);
    const handle = await layer.open('/data.bin');
    const offset = 100 * 1024 * 1024 + 12_345; // not block-aligned: 17 blocks of 64 KiB
    const read = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await handle.read(read, 0, read.length, offset);
    await handle.close();
    expect(bytesRead).toBe(read.length);
    expect(read.equals(data.subarray(offset, offset + read.length))).toBe(true);
    const transferred = proxy.requests.reduce((sum, request) => sum + request.bytesOut, 0);
    const image = FILE_SIZE;
    expect(transferred / image).toBeLessThan(0.02);
    expect(blobReads(proxy)).toMatchObject({ ranges: 1, rangeBytes: 17 * 65536 }); // 17 neighbours, one request
    expect(transferred - pulled).toBe(17 * 65536);
    expect((await store.stats()).blocks).toBe(17);
    console.log(`lazy pull: ${pulled} bytes to mount, ${transferred} bytes after reading 1 MiB of ${image} (${((100 * transferred) / image).toFixed(2)} %)`);
  });
});
