import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { exportImage } from '../../src/image/imageExport.js';
import { hostPlatform } from '../../src/image/oci/documents.js';
import { pull } from '../../src/registry/pull.js';
import { push } from '../../src/registry/push.js';
import { content, dumpHost, dumpLayer, openMemoryStore } from '../image/kit.js';
import { hasRegistry, hasTool, skipReason, startRegistry, type Registry } from './harness.js';
import { buildImages } from './fixture.js';

const hasSkopeo = hasTool('skopeo');
const hasUmoci = hasTool('umoci');
const isRoot = process.getuid?.() === 0;
const dumpOptions = isRoot ? {} : { skipOwners: true };

function skopeo(...args: string[]): void {
  execFileSync('skopeo', ['--insecure-policy', ...args], { stdio: 'pipe' });
}

function unpack(image: string, bundle: string): string {
  execFileSync('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', image, bundle], { stdio: 'pipe' });
  return join(bundle, 'rootfs');
}

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * An OCI layout written by hand: layers that GNU tar made of real directories and zlib gzip'd at
 * level 9 (not cowstack's encoding), a config and a manifest, tagged `tag`.
 */
async function handMadeLayout(layout: string, dirs: readonly string[], tag: string): Promise<void> {
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Uint8Array): Promise<string> => {
    const digest = sha256(bytes);
    await writeFile(join(blobs, digest.slice(7)), bytes);
    return digest;
  };
  const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
  const diffIds: string[] = [];
  for (const dir of dirs) {
    const tar = execFileSync('tar', ['--numeric-owner', '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 28 });
    const gz = gzipSync(tar, { level: 9 });
    diffIds.push(sha256(tar));
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
  }
  const platform = hostPlatform();
  const config = Buffer.from(JSON.stringify({
    architecture: platform.architecture, os: platform.os, config: {}, rootfs: { type: 'layers', diff_ids: diffIds },
    history: dirs.map(() => ({ created_by: 'GNU tar, by hand' })),
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length }, layers,
  }));
  const manifestDigest = await put(manifest);
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
}

describe.skipIf(!hasRegistry || !hasSkopeo)(`registry interop with skopeo and umoci${hasRegistry ? (hasSkopeo ? '' : ' (skipped: skopeo is not on PATH)') : skipReason}`, () => {
  let registry: Registry;
  let store: Store;
  let root: string;

  beforeAll(async () => {
    registry = await startRegistry();
    store = await openMemoryStore();
    await buildImages(store);
    root = await mkdtemp(join(tmpdir(), 'cowstack-interop-'));
  });
  afterAll(async () => {
    await store.close();
    await registry.stop();
    await rm(root, { recursive: true, force: true });
  });

  it.skipIf(!hasUmoci)(`an image cowstack pushed is what skopeo copies and umoci unpacks${hasUmoci ? '' : ' (skipped: umoci is not on PATH)'}`, async () => {
    await push(store, 'child', `${registry.host}/interop/ours:v1`);
    const layout = join(root, 'copied');
    skopeo('copy', '--src-tls-verify=false', `docker://${registry.host}/interop/ours:v1`, `oci:${layout}:v1`);
    const rootfs = unpack(`${layout}:v1`, join(root, 'bundle-ours'));
    expect(await dumpHost(rootfs, dumpOptions)).toEqual(await dumpLayer(await store.mount('child'), dumpOptions));
  });

  it('pulls what skopeo pushed from an exportImage layout, as an OCI and as a Docker schema 2 manifest', async () => {
    const layout = join(root, 'exported');
    await exportImage(store, 'child', layout, { tag: 'v1' });
    skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/interop/oci:v1`);
    skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layout}:v1`, `docker://${registry.host}/interop/docker:v1`);
    const docker = await fetch(`http://${registry.host}/v2/interop/docker/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(docker.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const expected = await dumpLayer(await store.mount('child'));
    for (const name of ['oci', 'docker']) {
      const fresh = await openMemoryStore();
      const info = await pull(fresh, `${registry.host}/interop/${name}:v1`);
      expect(await dumpLayer(await fresh.mount(info.key))).toEqual(expected);
      await fresh.close();
    }
  });

  it('pulls an image of GNU tar layers (a whiteout in the second) that skopeo pushed, as umoci unpacks it', async () => {
    const first = join(root, 'tree1');
    await mkdir(join(first, 'etc', 'sub'), { recursive: true });
    await writeFile(join(first, 'etc', 'hosts'), 'hosts');
    await writeFile(join(first, 'etc', 'sub', 'big'), content(150_000, 5));
    await symlink('hosts', join(first, 'etc', 'link'));
    await writeFile(join(first, 'suid'), content(10, 6));
    await chmod(join(first, 'suid'), 0o4755);
    const second = join(root, 'tree2');
    await mkdir(join(second, 'etc'), { recursive: true });
    await writeFile(join(second, 'etc', '.wh.hosts'), '');
    await writeFile(join(second, 'etc', 'new'), 'new');
    const layout = join(root, 'by-hand');
    await handMadeLayout(layout, [first, second], 'v1');
    skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/interop/by-hand:v1`);

    const fresh = await openMemoryStore();
    const info = await pull(fresh, `${registry.host}/interop/by-hand:v1`);
    const pulled = await dumpLayer(await fresh.mount(info.key), dumpOptions);
    expect(pulled['/etc/hosts']).toBeUndefined();
    expect(pulled['/etc/new']).toBeDefined();
    expect(info.labels['cowstack.history.created_by']).toBe('GNU tar, by hand');
    expect((await (await fresh.mount(info.key)).readFile('/etc/sub/big')).equals(await readFile(join(first, 'etc', 'sub', 'big')))).toBe(true);
    if (hasUmoci) expect(pulled).toEqual(await dumpHost(unpack(`${layout}:v1`, join(root, 'bundle-by-hand')), dumpOptions));
    await fresh.close();
  });
});
