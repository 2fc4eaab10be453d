import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import type { Store } from '../../src/index.js';
import { digestOf, type Digest } from '../../src/image/digest.js';
import { exportLayer } from '../../src/image/layerExport.js';
import { MEDIA_TYPES } from '../../src/image/oci/documents.js';
import { isZeroBlock } from '../../src/store/isZeroBlock.js';
import { BlockIndex, buildBlockIndex } from '../../src/registry/BlockIndex.js';
import {
  BLOCK_INDEX_MEDIA_TYPE, buildBlockIndexes, fetchBlockIndexes, prepareBlockIndexArtifact, publishBlockIndexArtifact,
} from '../../src/registry/blockIndexArtifact.js';
import { pull } from '../../src/registry/pull.js';
import { push } from '../../src/registry/push.js';
import { parseReference } from '../../src/registry/Reference.js';
import { RegistryBlockSource } from '../../src/registry/RegistryBlockSource.js';
import { RegistryClient } from '../../src/registry/RegistryClient.js';
import { resolveRemoteImage, type RemoteImage } from '../../src/registry/remoteImage.js';
import { sendBlobs, type LocalBlob } from '../../src/registry/sendBlobs.js';
import { collect, dumpLayer, openMemoryStore } from '../image/kit.js';
import { buildImages, registryFixture } from './fixture.js';
import { blobFile, hasRegistry, skipReason } from './harness.js';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** `image` as a manifest that names no block index would show it: its indexes are then found as referrers. */
const unbound = (image: RemoteImage): RemoteImage => ({ ...image, layers: image.layers.map((layer) => ({ ...layer, annotations: {} })) });

/** The ids a store of `blockSize` gives a file's content: SHA-256 of each block, the last short, zeros a hole. */
function blockIds(bytes: Buffer, blockSize: number): Array<string | null> {
  const out: Array<string | null> = [];
  for (let at = 0; at < bytes.length; at += blockSize) {
    const block = bytes.subarray(at, at + blockSize);
    out.push(isZeroBlock(block) ? null : sha(block));
  }
  return out;
}

describe('block index format', () => {
  let store: Store;
  let tar: Buffer;
  let index: BlockIndex;

  beforeAll(async () => {
    store = await openMemoryStore();
    await buildImages(store);
    tar = await collect(exportLayer(store, 'child'));
    // In uneven chunks, as a network or a file hands them over.
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      yield* [tar.subarray(0, 1000), tar.subarray(1000, 70_001), tar.subarray(70_001)];
    };
    index = await buildBlockIndex(chunks(), digestOf(tar), 4096);
  });
  afterAll(async () => {
    await store.close();
  });

  it('lists every entry of the layer, and each file block as the store ids it, at its range in the blob', async () => {
    const layer = await store.mount('child');
    expect(index.layer).toBe(digestOf(tar));
    expect(index.layerSize).toBe(tar.length);
    expect(index.entries.map((entry) => entry.path)).toEqual(expect.arrayContaining(['etc/hosts', 'home/', 'home/.wh..wh..opq', 'home/new']));
    const files = index.entries.filter((entry) => entry.type === 'file' && !entry.path.includes('.wh.'));
    expect(files.length).toBeGreaterThan(1);
    for (const entry of files) {
      const bytes = await layer.readFile(`/${entry.path}`);
      expect(entry.size).toBe(bytes.length);
      expect(tar.subarray(entry.offset!, entry.offset! + entry.size!).equals(bytes)).toBe(true);
      const ids = index.fileBlocks(entry);
      expect(ids).toEqual(blockIds(bytes, 4096));
      for (const id of ids) {
        if (id === null) continue;
        const range = index.locate(id)!;
        expect(sha(tar.subarray(range.offset, range.offset + range.length))).toBe(id);
      }
    }
    expect(index.fileBlocks(files.find((entry) => entry.path === 'home/new')!)).toContain(null); // content() makes a hole
    expect(index.locate(sha(Buffer.from('no such block')) as BlockId)).toBeUndefined();
  });

  it('encodes and decodes to the same index, and refuses anything else with EINVAL', () => {
    const bytes = index.encode();
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('CWBX');
    const decoded = BlockIndex.decode(bytes, 'test');
    expect(decoded.entries).toEqual(index.entries);
    expect(decoded.blockCount).toBe(index.blockCount);
    expect(decoded.layer).toBe(index.layer);
    for (const entry of index.entries) expect(decoded.fileBlocks(entry)).toEqual(index.fileBlocks(entry));

    const broken = (change: (copy: Buffer) => Buffer): unknown => {
      try {
        BlockIndex.decode(change(Buffer.from(bytes)), 'test');
        return undefined;
      } catch (error) {
        return error;
      }
    };
    expect(broken((copy) => copy.fill(0x41, 0, 4))).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('not a cowstack block index') });
    expect(broken((copy) => { copy.writeUInt32LE(2, 4); return copy; })).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('version 2') });
    expect(broken((copy) => copy.subarray(0, copy.length - 1))).toMatchObject({ code: 'EINVAL' });
    const toc = JSON.stringify({ entries: index.entries });
    const lying = JSON.stringify({ entries: [{ ...index.entries.find((entry) => entry.type === 'file' && entry.size! > 0), offset: tar.length }] });
    expect(broken((copy) => {
      const head = Buffer.from(copy.subarray(0, 64));
      head.writeUInt32LE(Buffer.byteLength(lying), 12);
      return Buffer.concat([head, Buffer.from(lying), copy.subarray(64 + Buffer.byteLength(toc))]);
    })).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('offset') });
  });
});

describe.skipIf(!hasRegistry)(`block indexes in a registry (lazy pull, registry side)${skipReason}`, () => {
  const fixture = registryFixture();
  let client: RegistryClient;
  const ref = (name: string): string => `${fixture.proxy.host}/lazy/${name}`;

  beforeAll(async () => {
    await push(fixture.store, 'child', ref('image:v1'), { lazy: true });
    await push(fixture.store, 'child', ref('image:plain'));
    client = new RegistryClient(parseReference(ref('image:v1')), {}, 'pull', 'pull');
  });

  it('pushes uncompressed layers that pull as usual, with an artifact of block indexes referring to the manifest', async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    expect(image.layers.map((layer) => layer.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar']);
    expect(image.layers.map((layer) => layer.digest)).toEqual(image.config.diffIds);
    const tags = (await (await fetch(`http://${fixture.registry.host}/v2/lazy/image/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toContain(`sha256-${image.digest.slice(7)}`); // distribution 2.8 has no referrers API: the tag schema
    const fresh = await openMemoryStore();
    const info = await pull(fresh, ref('image:v1'));
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
    await fresh.close();
  });

  it("names each layer's index in the image manifest, so the manifest's digest covers it, and fetches it from there by digest", async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    const artifactIndexes = (await fetchBlockIndexes(client, unbound(image), 4096)).map((index) => digestOf(index.encode()));
    expect(image.layers.map((layer) => layer.annotations['cowstack.block-index.4096'])).toEqual(artifactIndexes);
    expect(image.layers.every((layer) => Number(layer.annotations['cowstack.block-index.4096.size']) > 0)).toBe(true);
    fixture.proxy.requests.length = 0;
    const indexes = await fetchBlockIndexes(client, image, 4096);
    expect(indexes.map((index) => digestOf(index.encode()))).toEqual(artifactIndexes);
    // Straight to the blobs the manifest names: no referrers list, no referrers tag.
    expect(fixture.proxy.requests.map((request) => new URL(request.url, 'http://x').pathname).sort()).toEqual(artifactIndexes.map((digest) => `/v2/lazy/image/blobs/${digest}`).sort());
    // A manifest naming the indexes of some layers only (an image built on a lazily pushed base by
    // a tool that kept the base's annotations): no lazy pull, the caller pulls in full.
    const partial = { ...image, layers: image.layers.map((layer, i) => (i === 0 ? layer : { ...layer, annotations: {} })) };
    await expect(fetchBlockIndexes(client, partial, 4096)).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('pull it in full') });
    // A plain push names none.
    const plain = await resolveRemoteImage(new RegistryClient(parseReference(ref('image:plain')), {}, 'pull', 'pull'), 'plain', 'pull');
    expect(plain.layers.every((layer) => Object.keys(layer.annotations).length === 0)).toBe(true);
  });

  it('ignores a forged index the registry lists for an image whose manifest names its own, and refuses a named one tampered with', async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    const manifest = await client.getManifest(image.digest);
    const pusher = new RegistryClient(parseReference(ref('image:v1')), {}, 'push', 'pull,push');
    const tag = `sha256-${image.digest.slice(7)}`;
    const listed = (await client.getManifest(tag)).bytes;
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-forged-'));
    try {
      // A forged artifact, listed first under the referrers tag: what a registry could say.
      await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
      const garbage = Buffer.from('not a block index at all');
      await writeFile(join(dir, 'garbage'), garbage);
      const fakes = image.layers.map(() => ({ descriptor: { mediaType: BLOCK_INDEX_MEDIA_TYPE, digest: digestOf(garbage), size: garbage.length }, path: join(dir, 'garbage') }));
      const artifact = await prepareBlockIndexArtifact(fakes, image.layers.map((descriptor) => ({ descriptor, path: '' })), 4096, { mediaType: manifest.mediaType, digest: image.digest, size: manifest.bytes.length }, dir);
      await sendBlobs(pusher, artifact.blobs, {});
      await pusher.putManifest(digestOf(artifact.manifest), MEDIA_TYPES.ociManifest, artifact.manifest);
      const index = JSON.parse(listed.toString('utf8')) as { manifests: unknown[] };
      index.manifests.unshift({ mediaType: MEDIA_TYPES.ociManifest, digest: digestOf(artifact.manifest), size: artifact.manifest.length, artifactType: BLOCK_INDEX_MEDIA_TYPE });
      await pusher.putManifest(tag, MEDIA_TYPES.ociIndex, Buffer.from(JSON.stringify(index)));
      // Going by the referrers, a store would take the forged one; going by the manifest, it never looks.
      await expect(fetchBlockIndexes(client, unbound(image), 4096)).rejects.toMatchObject({ code: 'EINVAL' });
      const fresh = await openMemoryStore();
      const info = await fresh.pull(ref('image:v1'), { lazy: true });
      expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
      await fresh.close();
    } finally {
      await pusher.putManifest(tag, MEDIA_TYPES.ociIndex, listed);
      await rm(dir, { recursive: true, force: true });
    }
    // The named blob changed in the registry's storage: EINTEGRITY, not a quiet fallback.
    const path = blobFile(fixture.registry, image.layers[0]!.annotations['cowstack.block-index.4096'] as Digest);
    const original = await readFile(path);
    const changed = Buffer.from(original);
    changed[changed.length - 5]! ^= 1;
    await writeFile(path, changed);
    try {
      await expect(fetchBlockIndexes(client, image, 4096)).rejects.toMatchObject({ code: 'EINTEGRITY' });
      const fresh = await openMemoryStore();
      await expect(fresh.pull(ref('image:v1'), { lazy: true })).rejects.toMatchObject({ code: 'EINTEGRITY' });
      const left: string[] = [];
      for await (const info of fresh.walk()) left.push(info.key);
      expect(left).toEqual([]);
      await fresh.close();
    } finally {
      await writeFile(path, original);
    }
  });

  it('fetches the indexes, and each block by one range request', async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    const indexes = await fetchBlockIndexes(client, image, 4096);
    expect(indexes.map((index) => index.layer)).toEqual(image.layers.map((layer) => layer.digest));
    const source = new RegistryBlockSource(parseReference(ref('image:v1')), image.digest, indexes, {});
    const layer = await fixture.store.mount('child');
    fixture.proxy.requests.length = 0;
    let fetched = 0;
    for (const entry of indexes[1]!.entries.filter((item) => item.type === 'file' && !item.path.includes('.wh.'))) {
      const bytes = await layer.readFile(`/${entry.path}`);
      const ids = indexes[1]!.fileBlocks(entry);
      for (const [i, id] of ids.entries()) {
        if (id === null) continue;
        expect(Buffer.from((await source.fetch([id])).get(id)!).equals(bytes.subarray(i * 4096, (i + 1) * 4096))).toBe(true);
        fetched++;
      }
    }
    expect(fixture.proxy.requests).toHaveLength(fetched);
    expect(fixture.proxy.requests.every((request) => request.method === 'GET' && request.range !== undefined && request.bytesOut <= 4096 && request.status === 206)).toBe(true);
    expect((await source.fetch([sha(Buffer.from('unknown')) as BlockId])).size).toBe(0);
  });

  it('fetches blocks side by side in one blob with one range request, and the others apart', async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    const indexes = await fetchBlockIndexes(client, image, 4096);
    const source = new RegistryBlockSource(parseReference(ref('image:v1')), image.digest, indexes, {});
    const tool = indexes[0]!.entries.find((item) => item.path === 'bin/tool')!;
    const hosts = indexes[1]!.entries.find((item) => item.path === 'etc/hosts')!;
    // bin/tool's blocks 10–19 (one run), its block 30 (apart), and /etc/hosts's two blocks, in the other layer (a run).
    const toolIds = indexes[0]!.fileBlocks(tool);
    const wanted = [...toolIds.slice(10, 20), toolIds[30], ...indexes[1]!.fileBlocks(hosts)].filter((id): id is BlockId => id !== null);
    fixture.proxy.requests.length = 0;
    const found = await source.fetch([...wanted].reverse());
    expect([...found.keys()].sort()).toEqual([...new Set(wanted)].sort());
    expect(fixture.proxy.requests.map((request) => request.range).sort()).toEqual([
      `bytes=${tool.offset! + 10 * 4096}-${tool.offset! + 20 * 4096 - 1}`,
      `bytes=${tool.offset! + 30 * 4096}-${tool.offset! + 31 * 4096 - 1}`,
      `bytes=${hosts.offset!}-${hosts.offset! + hosts.size! - 1}`,
    ].sort());
    const original = await (await fixture.store.mount('base')).readFile('/bin/tool');
    expect(Buffer.from(found.get(toolIds[12]!)!).equals(original.subarray(12 * 4096, 13 * 4096))).toBe(true);
  });

  it('finds the index of each block size pushed, and ENOENT where none was published', async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    await expect(fetchBlockIndexes(client, image, 8192)).rejects.toMatchObject({ code: 'ENOENT' });
    // The same image indexed at another block size (as a fixture.store of 8192-byte blocks would push it): a second referrer.
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-lazy-'));
    try {
      const layers: LocalBlob[] = [];
      for (const layer of image.layers) {
        const path = join(dir, layer.digest.slice(7));
        await writeFile(path, await client.readBlob(layer, 1 << 30));
        layers.push({ descriptor: layer, path });
      }
      const manifest = await client.getManifest(image.digest);
      const indexes = await buildBlockIndexes(layers, 8192, dir);
      const artifact = await prepareBlockIndexArtifact(indexes, layers, 8192, { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length }, dir);
      const pusher = new RegistryClient(parseReference(ref('image:v1')), {}, 'push', 'pull,push');
      await sendBlobs(pusher, artifact.blobs, {});
      await publishBlockIndexArtifact(pusher, artifact, image.digest);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect((await fetchBlockIndexes(client, image, 8192)).every((index) => index.blockSize === 8192)).toBe(true);
    expect((await fetchBlockIndexes(client, image, 4096)).every((index) => index.blockSize === 4096)).toBe(true);
    const referrers = (await (await fetch(`http://${fixture.registry.host}/v2/lazy/image/manifests/sha256-${image.digest.slice(7)}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } })).json()) as { manifests: Array<{ artifactType: string }> };
    expect(referrers.manifests.map((manifest) => manifest.artifactType)).toEqual([BLOCK_INDEX_MEDIA_TYPE, BLOCK_INDEX_MEDIA_TYPE]);

    const plain = await resolveRemoteImage(new RegistryClient(parseReference(ref('image:plain')), {}, 'pull', 'pull'), 'plain', 'pull');
    await expect(fetchBlockIndexes(client, plain, 4096)).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('push it with lazy') });
  });

  it('hands back a block as the registry served it, tampered with or not: the store checks it (lazy.test.ts)', async () => {
    const image = await resolveRemoteImage(client, 'v1', 'pull');
    const indexes = await fetchBlockIndexes(client, image, 4096);
    const bottom = indexes[0]!;
    const entry = bottom.entries.find((item) => item.type === 'file' && (item.size ?? 0) > 8192)!;
    const id = bottom.fileBlocks(entry)[0]!;
    const path = blobFile(fixture.registry, bottom.layer as Digest);
    const original = await readFile(path);
    const file = await open(path, 'r+');
    try {
      await file.write(Buffer.from([original[entry.offset! + 10]! ^ 1]), 0, 1, entry.offset! + 10);
      await file.close();
      const served = (await new RegistryBlockSource(parseReference(ref('image:v1')), image.digest, indexes, {}).fetch([id])).get(id)!;
      const expected = Buffer.from(original.subarray(entry.offset!, entry.offset! + 4096));
      expected[10] ^= 1;
      expect(Buffer.from(served).equals(expected)).toBe(true);
    } finally {
      await writeFile(path, original);
    }
  });
});
