import { open, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../../src/registry/pull.js';
import { push } from '../../src/registry/push.js';
import { parseReference } from '../../src/registry/Reference.js';
import { RegistryClient } from '../../src/registry/RegistryClient.js';
import { digestOf } from '../../src/image/digest.js';
import { dumpLayer, keys, openMemoryStore } from '../image/kit.js';
import { registryFixture } from './fixture.js';
import { blobFile, hasRegistry, skipReason, type Registry } from './harness.js';

/** The layer descriptors of a pushed image, bottom first. */
async function layersOf(registry: Registry, name: string, tag: string): Promise<Array<{ digest: string; size: number }>> {
  const response = await fetch(`http://${registry.host}/v2/${name}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return ((await response.json()) as { layers: Array<{ digest: string; size: number }> }).layers;
}

async function configOf(registry: Registry, name: string, tag: string): Promise<string> {
  const response = await fetch(`http://${registry.host}/v2/${name}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return ((await response.json()) as { config: { digest: string } }).config.digest;
}

/** Flips one byte of a file in place, `at` bytes from its start. */
async function flipByte(path: string, at: number): Promise<void> {
  const file = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, at);
    byte[0] ^= 0x40;
    await file.write(byte, 0, 1, at);
  } finally {
    await file.close();
  }
}

describe.skipIf(!hasRegistry)(`registry faults${skipReason}`, () => {
  const fixture = registryFixture();
  const ref = (name: string): string => `${fixture.proxy.host}/faults/${name}`;
  const isBlobGet = (digest: string) => (method: string, url: string): boolean => method === 'GET' && url.endsWith(`/blobs/${digest}`);

  beforeAll(async () => {
    await push(fixture.store, 'child', `${fixture.registry.host}/faults/image:v1`);
  });

  it('a connection cut mid-blob rejects with ECONNRESET and leaves the store as it was; a retry completes', async () => {
    const [bottom] = await layersOf(fixture.registry, 'faults/image', 'v1');
    const fresh = await openMemoryStore();
    const before = await fresh.stats();
    fixture.proxy.cut({ match: isBlobGet(bottom!.digest), after: 100_000 });
    await expect(pull(fresh, ref('image:v1'), { retries: 0 })).rejects.toMatchObject({ code: 'ECONNRESET', syscall: 'pull' });
    expect(await keys(fresh)).toEqual([]);
    await fresh.gc();
    expect(await fresh.stats()).toEqual(before);

    const info = await pull(fresh, ref('image:v1'), { retries: 0 });
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
    await fresh.close();
  });

  it('a cut in an upper layer keeps the complete layer below it, and the retry fetches only the rest', async () => {
    const [, top] = await layersOf(fixture.registry, 'faults/image', 'v1');
    const fresh = await openMemoryStore();
    fixture.proxy.cut({ match: isBlobGet(top!.digest), after: 1000 });
    await expect(pull(fresh, ref('image:v1'), { retries: 0 })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(await keys(fresh)).toHaveLength(1);
    fixture.proxy.requests.length = 0;
    const info = await pull(fresh, ref('image:v1'));
    expect(fixture.proxy.requests.filter((request) => request.method === 'GET' && request.url.includes('/blobs/')).map((request) => request.url.replace(/^.*\/blobs\//, ''))).toEqual([
      await configOf(fixture.registry, 'faults/image', 'v1'), top!.digest,
    ]);
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
    await fresh.close();
  });

  it('resumes a cut download where it stopped (Range), with retries', async () => {
    const [bottom] = await layersOf(fixture.registry, 'faults/image', 'v1');
    const fresh = await openMemoryStore();
    fixture.proxy.cut({ match: isBlobGet(bottom!.digest), after: 150_000 });
    const info = await pull(fresh, ref('image:v1'));
    const gets = fixture.proxy.requests.filter((request) => request.url.endsWith(bottom!.digest) && request.method === 'GET');
    expect(gets.map((request) => request.range)).toEqual([undefined, `bytes=${gets[0]!.bytesOut}-`]);
    expect(gets[0]!.bytesOut + gets[1]!.bytesOut).toBe(bottom!.size);
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await fixture.store.mount('child')));
    await fresh.close();
  });

  it('a connection cut mid-upload rejects with ECONNRESET without tagging anything; a retry, or retries, complete it', async () => {
    fixture.proxy.cut({ match: (method) => method === 'PUT' || method === 'PATCH', after: 50_000, upload: true });
    await expect(push(fixture.store, 'base', ref('upload:v1'), { retries: 0 })).rejects.toMatchObject({ code: 'ECONNRESET', syscall: 'push' });
    expect((await fetch(`http://${fixture.registry.host}/v2/faults/upload/manifests/v1`)).status).toBe(404);
    await push(fixture.store, 'base', ref('upload:v1'), { retries: 0 });

    fixture.proxy.requests.length = 0;
    fixture.proxy.cut({ match: (method) => method === 'PATCH', after: 20_000, upload: true });
    const chunked = await push(fixture.store, 'base', ref('upload-chunked:v1'), { chunkSize: 64 * 1024 });
    expect(chunked.bytesSent).toBeGreaterThan(fixture.proxy.requests.reduce((sum, request) => sum + request.bytesIn, 0)); // the cut chunk counted whole, forwarded in part
    expect(fixture.proxy.requests.filter((request) => request.method === 'POST')).toHaveLength(3); // the layer twice (started over), the config
    const fresh = await openMemoryStore();
    expect(await dumpLayer(await fresh.mount((await pull(fresh, ref('upload-chunked:v1'))).key))).toEqual(await dumpLayer(await fixture.store.mount('base')));
    await fresh.close();
  });

  it('refuses a layer tampered with in the registry storage with EINTEGRITY, and commits nothing', async () => {
    await push(fixture.store, 'child', `${fixture.registry.host}/faults/tampered:v1`);
    const [bottom] = await layersOf(fixture.registry, 'faults/tampered', 'v1');
    const path = blobFile(fixture.registry, bottom!.digest);
    const original = await readFile(path);
    try {
      await flipByte(path, Math.floor(original.length / 2));
      const fresh = await openMemoryStore();
      await expect(pull(fresh, ref('tampered:v1'))).rejects.toMatchObject({ code: 'EINTEGRITY', path: bottom!.digest });
      expect(await keys(fresh)).toEqual([]);
      // Damage that leaves the gzip stream whole but changes the end: the digest still catches it.
      await writeFile(path, Buffer.concat([original, Buffer.from('trailing')]));
      await expect(pull(fresh, ref('tampered:v1'))).rejects.toMatchObject({ code: 'EINTEGRITY' });
      await writeFile(path, original.subarray(0, original.length - 100));
      await expect(pull(fresh, ref('tampered:v1'))).rejects.toMatchObject({ code: 'EINTEGRITY' });
      expect(await keys(fresh)).toEqual([]);
      await fresh.close();
    } finally {
      await writeFile(path, original);
    }
  });

  it('refuses a tampered config or manifest with EINTEGRITY', async () => {
    const config = blobFile(fixture.registry, await configOf(fixture.registry, 'faults/image', 'v1'));
    const original = await readFile(config);
    const fresh = await openMemoryStore();
    try {
      await writeFile(config, original.toString('latin1').replace('"layers"', '"LAYERS"'));
      await expect(pull(fresh, ref('image:v1'))).rejects.toMatchObject({ code: 'EINTEGRITY' });
    } finally {
      await writeFile(config, original);
    }
    const digest = (await push(fixture.store, 'base', `${fixture.registry.host}/faults/manifest:v1`)).digest;
    const manifest = blobFile(fixture.registry, digest);
    const bytes = await readFile(manifest);
    try {
      await writeFile(manifest, bytes.toString('latin1').replace('"schemaVersion":2', '"schemaVersion":2 '));
      await expect(pull(fresh, ref('manifest:v1'))).rejects.toMatchObject({ code: 'EINTEGRITY' });
      await expect(pull(fresh, `${fixture.proxy.host}/faults/manifest@${digest}`)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    } finally {
      await writeFile(manifest, bytes);
    }
    expect(await keys(fresh)).toEqual([]);
    await fresh.close();
  });

  it('aborts with ABORT_ERR and commits nothing', async () => {
    const fresh = await openMemoryStore();
    const controller = new AbortController();
    await expect(pull(fresh, ref('image:v1'), {
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.done > 10_000) controller.abort();
      },
    })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(await keys(fresh)).toEqual([]);
    await fresh.close();
  });
});

describe('against a fake registry', () => {
  let server: Server;
  let host: string;
  let handler: (request: IncomingMessage, response: ServerResponse) => void;
  const blob = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
  const descriptor = { digest: digestOf(blob), size: blob.length };

  beforeAll(async () => {
    server = createServer((request, response) => handler(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('uses plain HTTP for loopback hosts, and refuses it elsewhere without insecure: EINVAL explaining', async () => {
    // Uploads are sent to a plain-HTTP address elsewhere: refused before it is contacted.
    handler = (request, response) => {
      if (request.method === 'HEAD') response.writeHead(404).end();
      else if (request.method === 'POST') response.writeHead(202, { location: 'http://192.0.2.1/v2/upload/elsewhere' }).end();
      else response.writeHead(500).end();
    };
    const store = await openMemoryStore();
    const layer = await store.prepare('w');
    await layer.writeFile('/f', 'f');
    await store.commit('k', 'w');
    await expect(push(store, 'k', `${host}/x:v1`)).rejects.toMatchObject({
      code: 'EINVAL', path: '192.0.2.1/v2/upload/elsewhere', message: expect.stringContaining('plain HTTP to 192.0.2.1 refused'),
    });
    await expect(pull(store, `http://${host}/x:v1`)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'reference' });
    await store.close();
  });

  it('resumes a download from a registry that ignores Range, skipping what it had', async () => {
    const ranges: Array<string | undefined> = [];
    handler = (request, response) => {
      ranges.push(request.headers.range);
      response.writeHead(200, { 'content-length': String(blob.length) });
      if (ranges.length === 1) response.write(blob.subarray(0, 100_000), () => response.destroy());
      else response.end(blob);
    };
    const client = new RegistryClient(parseReference(`${host}/x:v1`), {}, 'pull', 'pull');
    expect((await client.readBlob(descriptor, blob.length)).equals(blob)).toBe(true); // (toEqual compares 300,000 bytes slowly)
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    await expect(client.readRange(descriptor.digest, 10, [20])).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('did not serve bytes 10-29') });
  });

  it('maps statuses to codes, with the registry\'s own error in the message', async () => {
    const client = new RegistryClient(parseReference(`${host}/x:v1`), { retries: 1 }, 'pull', 'pull');
    const answer = (status: number, code: string): void => {
      handler = (_request, response) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code, message: `${code.toLowerCase()} said the registry` }] }));
    };
    answer(403, 'DENIED');
    await expect(client.getManifest('v1')).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('HTTP 403 Forbidden: DENIED denied said the registry') });
    answer(404, 'MANIFEST_UNKNOWN');
    await expect(client.getManifest('v1')).rejects.toMatchObject({ code: 'ENOENT', path: `${host}/v2/x/manifests/v1` });
    answer(400, 'DIGEST_INVALID');
    await expect(client.getManifest('v1')).rejects.toMatchObject({ code: 'EINTEGRITY' });
    let calls = 0;
    handler = (_request, response) => {
      calls++;
      response.writeHead(503).end();
    };
    await expect(client.getManifest('v1')).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('HTTP 503') });
    expect(calls).toBe(2); // retried once
    handler = (_request, response) => response.writeHead(401, { 'www-authenticate': 'Negotiate' }).end();
    await expect(client.getManifest('v1')).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('no auth scheme cowstack speaks') });
    handler = (_request, response) => response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digestOf('other') }).end('{}');
    await expect(client.getManifest('v1')).rejects.toMatchObject({ code: 'EINTEGRITY' });
  });
});
