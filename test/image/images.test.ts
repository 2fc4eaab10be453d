import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { chainIds, digestOf, parseDigest, type Digest } from '../../src/image/digest.js';
import { exportImage } from '../../src/image/imageExport.js';
import { importImage } from '../../src/image/imageImport.js';
import { hostPlatform } from '../../src/image/oci/documents.js';
import { LABEL_DIFF_ID, LABEL_HISTORY } from '../../src/image/oci/labels.js';
import { gzip } from '../../src/image/tar/index.js';
import { applyOps, collect, dumpLayer, keys, makeTar, openMemoryStore, type TarInput, type TreeOp } from './kit.js';

let root: string;
let counter = 0;
const fresh = (): string => join(root, String(counter++));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cowstack-images-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const T = 1_600_000_000_000;
const hex = (digest: string): string => digest.slice('sha256:'.length);
const gz = async (bytes: Buffer): Promise<Buffer> => collect(gzip(Readable.from([bytes])));

/** A layer tar of files (all times fixed). */
const layerOf = (files: Record<string, string | null>): Promise<Buffer> =>
  makeTar(Object.entries(files).map(([path, body]): TarInput => {
    if (body === null) return { header: { path, type: 'directory', mtimeMs: T } };
    return { header: { path, type: 'file', mtimeMs: T }, body: Buffer.from(body) };
  }));

interface LayoutImage {
  tag?: string;
  layers: Buffer[];
  /** Layers stored gzip'd (default) or not. */
  gzip?: boolean;
  history?: unknown[];
  /** Edits the config before it is written (to lie about diff_ids…). */
  config?: (config: Record<string, unknown>) => void;
  platform?: { os: string; architecture: string };
}

/** Writes an OCI layout by hand; returns the descriptors it made. */
async function writeLayout(dir: string, images: LayoutImage[], wrap?: (manifests: unknown[]) => Promise<unknown[]>): Promise<{ manifests: unknown[]; diffIds: Digest[][] }> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (bytes: Buffer): Promise<Digest> => {
    const digest = digestOf(bytes);
    await writeFile(join(dir, 'blobs', 'sha256', hex(digest)), bytes);
    return digest;
  };
  const manifests: unknown[] = [];
  const allDiffIds: Digest[][] = [];
  for (const image of images) {
    const layers = [];
    const diffIds: Digest[] = [];
    for (const tar of image.layers) {
      const blob = image.gzip === false ? tar : await gz(tar);
      diffIds.push(digestOf(tar));
      layers.push({
        mediaType: image.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: await put(blob), size: blob.length,
      });
    }
    allDiffIds.push(diffIds);
    const config: Record<string, unknown> = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history: image.history ?? [] };
    image.config?.(config);
    const configBytes = Buffer.from(JSON.stringify(config));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(configBytes), size: configBytes.length },
      layers,
    }));
    manifests.push({
      mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: await put(manifest), size: manifest.length,
      ...(image.tag === undefined ? {} : { annotations: { 'org.opencontainers.image.ref.name': image.tag } }),
      ...(image.platform === undefined ? {} : { platform: image.platform }),
    });
  }
  const listed = wrap === undefined ? manifests : await wrap(manifests);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: listed }));
  return { manifests, diffIds: allDiffIds };
}

async function snapshot(store: Store, key: string, parent: string | undefined, ops: TreeOp[], labels?: Record<string, string>): Promise<void> {
  const layer = await store.prepare(`${key}-work`, parent);
  await applyOps(layer, ops);
  await store.commit(key, `${key}-work`, { labels });
}

const file = (path: string, seed: number, size = 5000): TreeOp => ({ kind: 'file', path, mode: 0o644, uid: 0, gid: 0, size, seed });

describe('digests and chain IDs', () => {
  it('computes chain IDs as the image-spec says', () => {
    const a = digestOf('a');
    const b = digestOf('b');
    const c = digestOf('c');
    const ab = digestOf(`${a} ${b}`);
    expect(chainIds([a, b, c])).toEqual([a, ab, digestOf(`${ab} ${c}`)]);
    expect(chainIds([])).toEqual([]);
  });

  it.each([
    ['sha256:' + 'A'.repeat(64)],
    ['sha256:' + 'a'.repeat(63)],
    ['sha512:' + 'a'.repeat(128)],
    ['sha256:../../../../etc/passwd'],
    [' sha256:' + 'a'.repeat(64)],
    [42],
  ])('rejects %j with EINVAL', (value) => {
    expect(() => parseDigest(value, 'where')).toThrow(expect.objectContaining({ code: 'EINVAL', path: 'where' }));
  });
});

describe('exportImage → importImage', () => {
  it('round-trips a chain of snapshots, keyed by chain ID, with history labels, sharing base layers', async () => {
    const a = await openMemoryStore();
    await snapshot(a, 'base', undefined, [file('/etc/os-release', 1), file('/bin/sh', 2, 70_000), { kind: 'dir', path: '/var/lib', mode: 0o755, uid: 0, gid: 0 }]);
    await snapshot(a, 'mid', 'base', [{ kind: 'rm', path: '/etc/os-release' }, file('/app/run', 3)], {
      [LABEL_HISTORY.created_by]: 'RUN make', [LABEL_HISTORY.created]: '2020-01-01T00:00:00Z',
    });
    await snapshot(a, 'top', 'mid', [{ kind: 'recreate', path: '/var/lib', mode: 0o700 }, file('/var/lib/db', 4)]);
    await snapshot(a, 'other', 'mid', [file('/app/other', 5)]);
    const dir = fresh();
    const top = await exportImage(a, 'top', dir, { tag: 'v1' });
    const other = await exportImage(a, 'other', dir, { tag: 'v2' });
    expect(top.layers.slice(0, 2)).toEqual(other.layers.slice(0, 2)); // equal snapshots, equal blobs
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ annotations: Record<string, string> }> };
    expect(index.manifests.map((manifest) => manifest.annotations['org.opencontainers.image.ref.name'])).toEqual(['v1', 'v2']);
    const config = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', hex(top.config.digest)), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ os: hostPlatform().os, architecture: hostPlatform().architecture, rootfs: { type: 'layers', diff_ids: top.diffIds } });
    expect((config.history as unknown[])[1]).toEqual({ created: '2020-01-01T00:00:00Z', created_by: 'RUN make' });

    const b = await openMemoryStore();
    const progress: number[] = [];
    const info = await importImage(b, dir, { tag: 'v1', onProgress: (p) => progress.push(p.done) });
    const chain = chainIds(top.diffIds);
    expect(info.key).toBe(chain[2]);
    expect(info.parent).toBe(chain[1]);
    expect(await keys(b)).toEqual([...chain].sort());
    expect(await dumpLayer(await b.mount(info.key))).toEqual(await dumpLayer(await a.mount('top')));
    const mid = await b.stat(chain[1]!);
    expect(mid.labels).toEqual({ [LABEL_DIFF_ID]: top.diffIds[1], [LABEL_HISTORY.created_by]: 'RUN make', [LABEL_HISTORY.created]: '2020-01-01T00:00:00Z' });
    expect(progress.at(-1)).toBe(top.layers.reduce((sum, layer) => sum + layer.size, 0));

    // The second image shares two layers: only its own is read (the shared blobs may even be gone).
    for (const layer of top.layers.slice(0, 2)) await rm(join(dir, 'blobs', 'sha256', hex(layer.digest)));
    const second = await importImage(b, dir, { tag: 'v2' });
    expect(second.parent).toBe(chain[1]);
    expect((await keys(b)).length).toBe(4);
    expect(await dumpLayer(await b.mount(second.key))).toEqual(await dumpLayer(await a.mount('other')));
    // Importing again changes nothing.
    expect((await importImage(b, dir, { tag: 'v1' })).key).toBe(chain[2]);
    expect((await keys(b)).length).toBe(4);
    await a.close();
    await b.close();
  });

  it('rejects a key that is not committed, a bad tag, a non-empty directory that is no layout', async () => {
    const store = await openMemoryStore();
    await snapshot(store, 'c', undefined, [file('/f', 1)]);
    await store.prepare('active', 'c');
    await expect(exportImage(store, 'active', fresh())).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(exportImage(store, 'missing', fresh())).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(exportImage(store, 'c', fresh(), { tag: '../evil' })).rejects.toMatchObject({ code: 'EINVAL' });
    const dir = fresh();
    await mkdir(dir);
    await writeFile(join(dir, 'something'), 'x');
    await expect(exportImage(store, 'c', dir)).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    const layout = fresh();
    await exportImage(store, 'c', layout);
    await exportImage(store, 'c', layout); // the same tag again replaces it
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
    expect(index.manifests).toHaveLength(1);
    expect((await readdir(join(layout, 'blobs', 'sha256'))).filter((name) => name.startsWith('.'))).toEqual([]);
    await store.close();
  });
});

describe('importImage of OCI layouts', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openMemoryStore();
  });
  afterAll(() => store.close());

  /** Nothing of a failed import is left but layers below the failing one. */
  const expectFails = async (dir: string, expected: Record<string, unknown>, options = {}): Promise<void> => {
    const before = await keys(store);
    await expect(importImage(store, dir, options)).rejects.toMatchObject(expected);
    expect((await keys(store)).filter((key) => !before.includes(key) && !key.startsWith('sha256:'))).toEqual([]);
  };

  it('imports plain and gzip\'d layers, and maps history entries (empty_layer ones skipped) to layers', async () => {
    const dir = fresh();
    const layers = [await layerOf({ 'a/': null, 'a/one': '1' }), await layerOf({ 'a/two': '2' })];
    const { diffIds } = await writeLayout(dir, [{
      layers, gzip: false,
      history: [{ created_by: 'ADD one' }, { created_by: 'ENV x=y', empty_layer: true }, { created_by: 'ADD two', comment: 'c', author: 'me' }],
    }]);
    const info = await importImage(store, dir);
    expect(info.key).toBe(chainIds(diffIds[0]!)[1]);
    expect(info.labels).toMatchObject({ [LABEL_HISTORY.created_by]: 'ADD two', [LABEL_HISTORY.comment]: 'c', [LABEL_HISTORY.author]: 'me' });
    expect((await store.stat(info.parent!)).labels[LABEL_HISTORY.created_by]).toBe('ADD one');
    expect(await (await store.mount(info.key)).readdir('/a')).toEqual(['one', 'two']);
  });

  it('picks an image by tag; with several and no tag it lists them; an unknown tag is ENOENT', async () => {
    const dir = fresh();
    await writeLayout(dir, [
      { tag: 'alpha', layers: [await layerOf({ alpha: 'a' })] },
      { tag: 'docker.io/library/beta:1.0', layers: [await layerOf({ beta: 'b' })] },
    ]);
    const error = (await importImage(store, dir).then(() => new Error('resolved'), (reason: unknown) => reason)) as Error;
    expect(error).toMatchObject({ code: 'EINVAL' });
    expect(error.message).toContain('alpha');
    expect(error.message).toContain('docker.io/library/beta:1.0');
    expect(await (await store.mount((await importImage(store, dir, { tag: '1.0' })).key)).readdir('/')).toEqual(['beta']);
    expect(await (await store.mount((await importImage(store, dir, { tag: 'alpha' })).key)).readdir('/')).toEqual(['alpha']);
    await expectFails(dir, { code: 'ENOENT' }, { tag: 'gamma' });
  });

  it('resolves an image index to this machine\'s platform', async () => {
    const dir = fresh();
    const host = hostPlatform();
    await writeLayout(dir, [
      { layers: [await layerOf({ wrong: 'w' })], platform: { os: 'linux', architecture: host.architecture === 'arm64' ? 'amd64' : 'arm64' } },
      { layers: [await layerOf({ mine: 'm' })], platform: host },
    ], async (manifests) => {
      const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
      const digest = digestOf(index);
      await writeFile(join(dir, 'blobs', 'sha256', hex(digest)), index);
      return [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }];
    });
    expect(await (await store.mount((await importImage(store, dir)).key)).readdir('/')).toEqual(['mine']);
  });

  it('rejects a layer blob that does not match its digest (EINTEGRITY), keeping the correct layers below it', async () => {
    const dir = fresh();
    const layers = [await layerOf({ low: 'l' }), await layerOf({ high: 'h' })];
    const { manifests, diffIds } = await writeLayout(dir, [{ layers }]);
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', hex((manifests[0] as { digest: string }).digest)), 'utf8')) as { layers: Array<{ digest: string }> };
    const blob = join(dir, 'blobs', 'sha256', hex(manifest.layers[1]!.digest));
    const tampered = await gz(await layerOf({ high: 'H' }));
    await writeFile(blob, tampered);
    const chain = chainIds(diffIds[0]!);
    await expectFails(dir, { code: 'EINTEGRITY' });
    expect(await keys(store)).toContain(chain[0]);
    expect(await keys(store)).not.toContain(chain[1]);
  });

  it('rejects an uncompressed stream that does not match the config\'s diff_id (EINTEGRITY)', async () => {
    const dir = fresh();
    await writeLayout(dir, [{
      layers: [await layerOf({ x: 'x' })],
      config: (config) => {
        (config.rootfs as { diff_ids: string[] }).diff_ids[0] = digestOf('something else');
      },
    }]);
    const before = await keys(store);
    await expectFails(dir, { code: 'EINTEGRITY' });
    expect(await keys(store)).toEqual(before);
  });

  it('rejects a manifest or config blob that does not match its descriptor (EINTEGRITY)', async () => {
    const dir = fresh();
    const { manifests } = await writeLayout(dir, [{ layers: [await layerOf({ x: 'x' })] }]);
    const path = join(dir, 'blobs', 'sha256', hex((manifests[0] as { digest: string }).digest));
    const original = await readFile(path);
    await writeFile(path, original.toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
    await expectFails(dir, { code: 'EINTEGRITY' });
    await writeFile(path, original.toString().replace('"schemaVersion":2', '"schemaVersion":3'));
    await expectFails(dir, { code: 'EINTEGRITY' });
  });

  it('validates digests before they name a file', async () => {
    for (const digest of ['sha256:../../../../../../etc/passwd', `sha256:${'A'.repeat(64)}`, `sha512:${'a'.repeat(128)}`]) {
      const dir = fresh();
      await mkdir(dir);
      await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 10 }] }));
      await expectFails(dir, { code: 'EINVAL', path: 'index.json manifests[0] digest' });
    }
  });

  it('rejects what is no image, a missing blob, a zstd layer, and more diff_ids than layers', async () => {
    await expectFails(fresh(), { code: 'ENOENT' });
    const empty = fresh();
    await mkdir(empty);
    await expectFails(empty, { code: 'EINVAL' });

    const missing = fresh();
    const { manifests } = await writeLayout(missing, [{ layers: [await layerOf({ x: 'x' })] }]);
    const manifest = JSON.parse(await readFile(join(missing, 'blobs', 'sha256', hex((manifests[0] as { digest: string }).digest)), 'utf8')) as { layers: Array<{ digest: string }> };
    await rm(join(missing, 'blobs', 'sha256', hex(manifest.layers[0]!.digest)));
    await expectFails(missing, { code: 'ENOENT' });

    const extra = fresh();
    await writeLayout(extra, [{ layers: [await layerOf({ x: 'x' })], config: (config) => (config.rootfs as { diff_ids: string[] }).diff_ids.push(digestOf('y')) }]);
    await expectFails(extra, { code: 'EINVAL' });
  });

  it('rejects a hostile layer as importLayer does, and stops on abort', async () => {
    const dir = fresh();
    await writeLayout(dir, [{ layers: [await layerOf({ fine: 'f' }), await layerOf({ '../escape': 'e' })] }]);
    await expectFails(dir, { code: 'EINVAL', path: '../escape' });
    const controller = new AbortController();
    controller.abort();
    await expectFails(dir, { code: 'ABORT_ERR' }, { signal: controller.signal });
  });
});

describe('importImage of archives (docker save, OCI layout tar)', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openMemoryStore();
  });
  afterAll(() => store.close());

  /**
   * A `docker save` tar in the legacy layout (Docker < 25): `<id>/layer.tar`, `<config hex>.json`,
   * `manifest.json`, `repositories`; a layer two images share is stored once, the second copy a
   * symbolic link to it, as docker does.
   */
  async function dockerSave(images: Array<{ tags: string[]; layers: Buffer[] }>, options: { gzipLayers?: boolean } = {}): Promise<{ tar: Buffer; diffIds: Digest[][] }> {
    const entries: TarInput[] = [];
    const written = new Map<string, string>();
    const manifest: unknown[] = [];
    const allDiffIds: Digest[][] = [];
    for (const image of images) {
      const names: string[] = [];
      const diffIds: Digest[] = [];
      for (const layer of image.layers) {
        const diffId = digestOf(layer);
        diffIds.push(diffId);
        const id = hex(digestOf(`${diffId}${image.tags[0]}`));
        const name = `${id}/layer.tar`;
        names.push(name);
        entries.push({ header: { path: `${id}/`, type: 'directory' } }, { header: { path: `${id}/VERSION`, type: 'file' }, body: Buffer.from('1.0') });
        const first = written.get(diffId);
        if (first !== undefined) {
          entries.push({ header: { path: name, type: 'symlink', linkTarget: `../${first}` } });
        } else {
          written.set(diffId, name);
          entries.push({ header: { path: name, type: 'file' }, body: options.gzipLayers === true ? await gz(layer) : layer });
        }
      }
      allDiffIds.push(diffIds);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, history: [] }));
      const configName = `${hex(digestOf(config))}.json`;
      entries.push({ header: { path: configName, type: 'file' }, body: config });
      manifest.push({ Config: configName, RepoTags: image.tags, Layers: names });
    }
    entries.push({ header: { path: 'manifest.json', type: 'file' }, body: Buffer.from(JSON.stringify(manifest)) });
    entries.push({ header: { path: 'repositories', type: 'file' }, body: Buffer.from('{}') });
    return { tar: await makeTar(entries), diffIds: allDiffIds };
  }

  const save = async (bytes: Buffer): Promise<string> => {
    const path = join(root, `${counter++}.tar`);
    await writeFile(path, bytes);
    return path;
  };

  it('imports a docker save tar (legacy layout, shared and symlinked layers) by tag', async () => {
    const base = await layerOf({ 'etc/': null, 'etc/passwd': 'root:x:0:0' });
    const { tar, diffIds } = await dockerSave([
      { tags: ['app:1'], layers: [base, await layerOf({ 'app/': null, 'app/bin': 'v1', '.wh.etc': '' })] },
      { tags: ['app:2', 'app:latest'], layers: [base, await layerOf({ 'app/': null, 'app/bin': 'v2' })] },
    ]);
    const path = await save(tar);
    const before = (await keys(store)).length;
    await expect(importImage(store, path)).rejects.toMatchObject({ code: 'EINVAL' });
    const one = await importImage(store, path, { tag: 'app:1' });
    expect(one.key).toBe(chainIds(diffIds[0]!)[1]);
    expect(await (await store.mount(one.key)).readdir('/')).toEqual(['app']);
    const two = await importImage(store, path, { tag: 'latest' });
    expect(await (await store.mount(two.key)).readFile('/app/bin', 'utf8')).toBe('v2');
    expect(await (await store.mount(two.key)).readFile('/etc/passwd', 'utf8')).toBe('root:x:0:0');
    expect(two.parent).toBe(one.parent);
    expect((await keys(store)).length).toBe(before + 3);
  });

  it('imports a gzip\'d docker save tar with gzip\'d layers', async () => {
    const { tar } = await dockerSave([{ tags: ['z:1'], layers: [await layerOf({ zipped: 'yes' })] }], { gzipLayers: true });
    const info = await importImage(store, await save(await gz(tar)));
    expect(await (await store.mount(info.key)).readFile('/zipped', 'utf8')).toBe('yes');
  });

  it('imports the Docker 25 layout (blobs/sha256 plus manifest.json), checking member digests', async () => {
    const layer = await layerOf({ modern: 'docker 25' });
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
    const manifest = [{ Config: `blobs/sha256/${hex(digestOf(config))}`, RepoTags: ['m:1'], Layers: [`blobs/sha256/${hex(digestOf(layer))}`] }];
    const entries = (layerBytes: Buffer): TarInput[] => [
      { header: { path: 'blobs/', type: 'directory' } },
      { header: { path: 'blobs/sha256/', type: 'directory' } },
      { header: { path: `blobs/sha256/${hex(digestOf(config))}`, type: 'file' }, body: config },
      { header: { path: `blobs/sha256/${hex(digestOf(layer))}`, type: 'file' }, body: layerBytes },
      { header: { path: 'manifest.json', type: 'file' }, body: Buffer.from(JSON.stringify(manifest)) },
      { header: { path: 'oci-layout', type: 'file' }, body: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    ];
    const info = await importImage(store, await save(await makeTar(entries(layer))));
    expect(await (await store.mount(info.key)).readFile('/modern', 'utf8')).toBe('docker 25');
    const other = await openMemoryStore();
    const wrong = Buffer.from(layer);
    wrong[wrong.indexOf('docker 25')] = 'D'.charCodeAt(0);
    await expect(importImage(other, await save(await makeTar(entries(wrong))))).rejects.toMatchObject({ code: 'EINTEGRITY' });
    expect(await keys(other)).toEqual([]);
    await other.close();
  });

  it('imports a tar of an OCI layout', async () => {
    const dir = fresh();
    await writeLayout(dir, [{ tag: 'x', layers: [await layerOf({ 'in-a-tar': '1' })] }]);
    const entries: TarInput[] = [];
    const walk = async (path: string, name: string): Promise<void> => {
      for (const child of (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const childName = name === '' ? child.name : `${name}/${child.name}`;
        if (child.isDirectory()) {
          entries.push({ header: { path: childName, type: 'directory' } });
          await walk(join(path, child.name), childName);
        } else {
          entries.push({ header: { path: childName, type: 'file' }, body: await readFile(join(path, child.name)) });
        }
      }
    };
    await walk(dir, '');
    const info = await importImage(store, await save(await makeTar(entries)));
    expect(await (await store.mount(info.key)).readFile('/in-a-tar', 'utf8')).toBe('1');
  });

  it('rejects an archive that is no image, and a manifest.json naming a missing member', async () => {
    await expect(importImage(store, await save(await layerOf({ just: 'a layer' })))).rejects.toMatchObject({ code: 'EINVAL' });
    const manifest = [{ Config: 'nope.json', RepoTags: [], Layers: ['gone/layer.tar'] }];
    const tar = await makeTar([{ header: { path: 'manifest.json', type: 'file' }, body: Buffer.from(JSON.stringify(manifest)) }]);
    await expect(importImage(store, await save(tar))).rejects.toMatchObject({ code: 'ENOENT', path: 'nope.json' });
  });
});
