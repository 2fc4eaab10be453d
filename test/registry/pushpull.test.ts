import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/index.js';
import { digestOf } from '../../src/image/digest.js';
import { hostPlatform } from '../../src/image/oci/documents.js';
import { pull } from '../../src/registry/pull.js';
import { push } from '../../src/registry/push.js';
import { dumpLayer, keys, openMemoryStore } from '../image/kit.js';
import { registryFixture } from './fixture.js';
import { hasRegistry, skipReason, storedBlobs } from './harness.js';

describe.skipIf(!hasRegistry)(`push and pull through a registry${skipReason}`, () => {
  const fixture = registryFixture();
  const ref = (name: string): string => `${fixture.proxy.host}/cowstack/${name}`;
  const sent = (): number => fixture.proxy.requests.reduce((sum, request) => sum + request.bytesIn, 0);
  const calls = (): string[] => fixture.proxy.requests.map((request) => `${request.method} ${request.url.replace(/\?.*$/, '').replace(/uploads\/[^/]+$/, 'uploads/UUID')}`);

  it('pushes an image that pulls into a fresh store as the same trees, byte for byte, keyed by chain ID', async () => {
    const progress: number[] = [];
    const result = await push(fixture.store, 'child', ref('round:v1'), { onProgress: (p) => progress.push(p.done) });
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.blobsSkipped).toBe(0);
    expect(result.bytesSent).toBe(sent());
    expect(progress.at(-1)).toBe(result.bytesSent - fixture.proxy.requests.find((r) => r.method === 'PUT' && r.url.includes('/manifests/'))!.bytesIn);

    const fresh = await openMemoryStore();
    const info = await pull(fresh, ref('round:v1'));
    expect(info.kind).toBe('committed');
    expect(info.key).toMatch(/^sha256:/);
    expect(info.parent).toMatch(/^sha256:/);
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
    expect(await dumpLayer(await fresh.mount(info.parent!))).toEqual(await dumpLayer(await fixture.store.mount('base')));
    expect(info.labels['cowstack.diff_id']).toMatch(/^sha256:/);
    expect(info.labels['cowstack.history.comment']).toBe('cowstack snapshot child');

    // Pulled again: nothing but the manifest and the config is fetched.
    fixture.proxy.requests.length = 0;
    expect((await pull(fresh, ref('round:v1'))).key).toBe(info.key);
    expect(calls().filter((call) => call.startsWith('GET'))).toHaveLength(2);
    // By digest, the same image.
    expect((await pull(fresh, `${fixture.proxy.host}/cowstack/round@${result.digest}`)).key).toBe(info.key);
    await fresh.close();
  });

  it('a second push of a child image sends only its new layer, a config and a manifest', async () => {
    const first = await push(fixture.store, 'child', ref('second:child'));
    expect(first.blobsSkipped).toBe(0);
    fixture.proxy.requests.length = 0;
    const commit = await push(fixture.store, 'container-commit', ref('second:commit'));
    expect(commit.blobsSkipped).toBe(2); // both layers of `child`
    expect(calls().filter((call) => !call.startsWith('HEAD'))).toEqual([
      'POST /v2/cowstack/second/blobs/uploads/', 'PUT /v2/cowstack/second/blobs/uploads/UUID', // the new layer
      'POST /v2/cowstack/second/blobs/uploads/', 'PUT /v2/cowstack/second/blobs/uploads/UUID', // the config
      'PUT /v2/cowstack/second/manifests/commit',
    ]);
    expect(calls().filter((call) => call.startsWith('HEAD'))).toHaveLength(4);
    expect(commit.bytesSent).toBe(sent());
    expect(commit.bytesSent).toBeLessThan(3000);
    expect(first.bytesSent).toBeGreaterThan(250_000);

    // The same image again: every blob is there, only the manifest goes.
    fixture.proxy.requests.length = 0;
    const again = await push(fixture.store, 'container-commit', ref('second:commit'));
    expect(again.digest).toBe(commit.digest);
    expect(again.blobsSkipped).toBe(4);
    expect(calls().filter((call) => !call.startsWith('HEAD'))).toEqual(['PUT /v2/cowstack/second/manifests/commit']);
  });

  it('pull fetches only the layers whose chain IDs the store lacks', async () => {
    await push(fixture.store, 'base', ref('partial:base'));
    await push(fixture.store, 'child', ref('partial:child'));
    const fresh = await openMemoryStore();
    const base = await pull(fresh, ref('partial:base'));
    fixture.proxy.requests.length = 0;
    const child = await pull(fresh, ref('partial:child'));
    expect(child.parent).toBe(base.key);
    const blobGets = calls().filter((call) => call.startsWith('GET') && call.includes('/blobs/'));
    expect(blobGets).toHaveLength(2); // the config and the one new layer
    expect(await keys(fresh)).toEqual([base.key, child.key].sort());
    await fresh.close();
  });

  it('uploads in chunks above chunkSize, and mounts blobs from another repository', async () => {
    const chunked = await push(fixture.store, 'base', ref('chunked:v1'), { chunkSize: 16_384 });
    const patches = fixture.proxy.requests.filter((request) => request.method === 'PATCH');
    expect(patches.length).toBeGreaterThan(5);
    expect(patches.every((request) => request.bytesIn <= 16_384)).toBe(true);
    const fresh = await openMemoryStore();
    expect(await dumpLayer(await fresh.mount((await pull(fresh, ref('chunked:v1'))).key))).toEqual(await dumpLayer(await fixture.store.mount('base')));

    fixture.proxy.requests.length = 0;
    const mounted = await push(fixture.store, 'base', ref('mounted:v1'), { mountFrom: 'cowstack/chunked' });
    expect(mounted.digest).toBe(chunked.digest);
    expect(mounted.blobsSkipped).toBe(2);
    expect(fixture.proxy.requests.filter((request) => request.method === 'POST').map((request) => request.status)).toEqual([201, 201]);
    expect(mounted.bytesSent).toBe(sent()); // the manifest only
    expect(mounted.bytesSent).toBeLessThan(1000);
    await fresh.close();
  });

  it('pulls through an image index to the manifest of this platform', async () => {
    const pushed = await push(fixture.store, 'base', ref('multi:single'));
    const manifest = await (await fetch(`http://${fixture.registry.host}/v2/cowstack/multi/manifests/single`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).arrayBuffer();
    const host = hostPlatform();
    const other = { os: 'plan9', architecture: 'mips' };
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [other, host].map((platform) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: pushed.digest, size: manifest.byteLength, platform })),
    }));
    const put = await fetch(`http://${fixture.registry.host}/v2/cowstack/multi/manifests/index`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
    expect(put.status).toBe(201);
    const fresh = await openMemoryStore();
    const info = await pull(fresh, ref('multi:index'));
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('base')));

    const elsewhere = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: pushed.digest, size: manifest.byteLength, platform: other }] }));
    await fetch(`http://${fixture.registry.host}/v2/cowstack/multi/manifests/elsewhere`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: elsewhere });
    await expect(pull(fresh, ref('multi:elsewhere'))).rejects.toMatchObject({ code: 'ENOENT', message: expect.stringContaining('plan9/mips') });
    await fresh.close();
  });

  it('names what is missing or wrong: unknown tags and repositories, uncommitted keys, bad references', async () => {
    const fresh = await openMemoryStore();
    await expect(pull(fresh, ref('nothing:here'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'pull' });
    await push(fixture.store, 'base', ref('known:v1'));
    await expect(pull(fresh, ref('known:v2'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(pull(fresh, `${fixture.proxy.host}/cowstack/known@${digestOf('nothing')}`)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(push(fixture.store, 'missing', ref('known:v3'))).rejects.toMatchObject({ code: 'ENOENT' });
    await fixture.store.prepare('active-one', 'base');
    await expect(push(fixture.store, 'active-one', ref('known:v3'))).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(push(fixture.store, 'base', `${fixture.proxy.host}/cowstack/known@${digestOf('other')}`)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(pull(fresh, `${fixture.proxy.host}/Upper/case`)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'reference' });
    expect(await keys(fresh)).toEqual([]);
    await fresh.close();
  });

  it('pulls into a durable store: the snapshots are there after it is reopened', async () => {
    await push(fixture.store, 'child', ref('durable:v1'));
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-pull-disk-'));
    try {
      const disk = await openStore({ dir, workers: 0, blockSize: 4096 });
      const info = await pull(disk, ref('durable:v1'));
      await disk.close();
      const reopened = await openStore({ dir, workers: 0 });
      expect(await reopened.stat(info.key)).toMatchObject({ kind: 'committed', parent: info.parent });
      expect(await dumpLayer(await reopened.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
      expect((await reopened.check()).ok).toBe(true);
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stores each blob once in the registry however often it is pushed', async () => {
    const before = await storedBlobs(fixture.registry);
    await push(fixture.store, 'child', ref('once:a'));
    await push(fixture.store, 'child', ref('once:b'));
    await push(fixture.store, 'child', ref('once-too:c'));
    const after = await storedBlobs(fixture.registry);
    expect(after.length - before.length).toBeLessThanOrEqual(1); // the manifest of an image new to this registry, at most
  });
});
