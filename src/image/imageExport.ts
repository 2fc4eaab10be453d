import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fsError } from '../core/errors.js';
import type { LongOperation, SnapshotInfo, Store } from '../snapshots/Store.js';
import { DigestStream, digestHex, digestOf, type Digest } from './digest.js';
import { exportLayer } from './layerExport.js';
import { checkAborted } from './oci/byteStream.js';
import { MEDIA_TYPES, REF_NAME, hostPlatform, parseIndex, parseJson } from './oci/documents.js';
import { LABEL_HISTORY } from './oci/labels.js';
import { MAX_JSON_BYTES } from './oci/limits.js';
import { gzip } from './tar/index.js';

export interface ExportImageOptions extends LongOperation {
  /** The name in `index.json` (`org.opencontainers.image.ref.name`); default `latest`. */
  tag?: string;
  /**
   * Gzip the layers (default true). With false, each layer blob is its uncompressed tar
   * (`application/vnd.oci.image.layer.v1.tar`, its digest the diffID): what a lazy `push`
   * publishes, since a range of a gzip stream cannot be read alone. A cowstack extension.
   */
  compress?: boolean;
}

/** A blob as a descriptor names it. */
export interface BlobDescriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
}

/** What `exportImage` wrote. */
export interface ExportedImage {
  readonly manifest: BlobDescriptor;
  readonly config: BlobDescriptor;
  /** Bottom first. */
  readonly layers: readonly BlobDescriptor[];
  readonly diffIds: readonly Digest[];
}

const SYSCALL = 'exportImage';
const LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });
/** The grammar of a ref name (image-spec annotations.md, `org.opencontainers.image.ref.name`). */
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

/**
 * Writes committed snapshot `key` as an image into the OCI image layout directory `dir`
 * (image-spec `image-layout.md`): `oci-layout`, `blobs/sha256/…` and `index.json`, where the
 * image's manifest is named `tag` (default `latest`). `dir` is made when missing; when it is a
 * layout already, the image is added to it (replacing one of the same name, keeping the others'
 * blobs); any other non-empty directory is `ENOTEMPTY`.
 *
 * The layers are `key`'s chain of snapshots, bottom first, each `exportLayer(snapshot, { base:
 * its parent ?? null })` gzip'd (`application/vnd.oci.image.layer.v1.tar+gzip`) unless `compress`
 * is false. The config has
 * `rootfs.diff_ids`, `os` and `architecture` of this machine, `created` (the top snapshot's
 * creation), and one `history` entry per layer from its `cowstack.history.*` labels (see
 * `LABEL_HISTORY`), or the snapshot's creation time and key. Equal snapshots give equal blobs.
 *
 * Blobs are written under a temporary name and renamed when complete; `index.json` is replaced
 * last, so a failure leaves the layout's previous images intact (stray blobs aside). Rejects with
 * `ENOENT` for a missing `key`, `EINVAL` for one not committed or a `tag` that is no ref name,
 * `ENOTEMPTY` as said, `ABORT_ERR` once `signal` is aborted. Progress: `{ done, unit: 'bytes' }`
 * of layer blobs written.
 */
export async function exportImage(store: Store, key: string, dir: string, options: ExportImageOptions = {}): Promise<ExportedImage> {
  const tag = options.tag ?? 'latest';
  const compress = options.compress !== false;
  if (typeof tag !== 'string' || !REF.test(tag)) throw fsError('EINVAL', { syscall: SYSCALL, path: String(tag), detail: 'not an OCI ref name (letters, digits, separators - . _ : @ + --, components joined by /)' });
  checkAborted(options.signal, SYSCALL, key);
  const chain = await chainOf(store, key);
  const previous = await prepareLayout(dir);
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });

  const layers: BlobDescriptor[] = [];
  const diffIds: Digest[] = [];
  let done = 0;
  for (const snapshot of chain) {
    const tar = new DigestStream();
    const blob = new DigestStream();
    const source = exportLayer(store, snapshot.key, { base: snapshot.parent ?? null, signal: options.signal });
    const layer = compress ? gzip(tar.tap(source)) : tar.tap(source);
    const digest = await writeBlobStream(blobs, blob.tap(layer), () => blob.digest(), (bytes) => {
      done += bytes;
      options.onProgress?.({ done, unit: 'bytes' });
    });
    layers.push({ mediaType: compress ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.ociLayer, digest, size: blob.size });
    diffIds.push(tar.digest());
  }

  const top = chain[chain.length - 1]!;
  const platform = hostPlatform();
  const config = await writeBlob(blobs, MEDIA_TYPES.ociConfig, {
    created: top.created.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    config: {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: chain.map(historyOf),
  });
  const manifest = await writeBlob(blobs, MEDIA_TYPES.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config,
    layers,
  });
  const kept = previous.filter((entry) => (entry.annotations as Record<string, unknown> | undefined)?.[REF_NAME] !== tag);
  await writeFileAtomic(dir, 'oci-layout', LAYOUT);
  await writeFileAtomic(dir, 'index.json', JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [...kept, { ...manifest, annotations: { [REF_NAME]: tag } }],
  }));
  return { manifest, config, layers, diffIds };
}

/** `key` and the snapshots below it, bottom first; `key` must be committed (and so are they). */
async function chainOf(store: Store, key: string): Promise<SnapshotInfo[]> {
  const top = await store.stat(key);
  if (top.kind !== 'committed') throw fsError('EINVAL', { syscall: SYSCALL, path: key, detail: `snapshot '${key}' is ${top.kind}: commit it first` });
  const chain = [top];
  for (let parent = top.parent; parent !== undefined; parent = chain[0]!.parent) chain.unshift(await store.stat(parent));
  return chain;
}

/**
 * Makes `dir` ready for an image: missing or empty, or an OCI layout already, whose `index.json`
 * entries are returned (as raw JSON objects, so that what cowstack does not read survives).
 */
async function prepareLayout(dir: string): Promise<Array<Record<string, unknown>>> {
  await mkdir(dir, { recursive: true });
  const names = await readdir(dir);
  if (names.length === 0) return [];
  if (!names.includes('oci-layout')) throw fsError('ENOTEMPTY', { syscall: SYSCALL, path: dir, detail: 'not empty, and not an OCI image layout' });
  const layout = parseJson(await readFile(join(dir, 'oci-layout')), 'oci-layout') as { imageLayoutVersion?: unknown };
  if (layout?.imageLayoutVersion !== '1.0.0') throw fsError('EINVAL', { syscall: SYSCALL, path: join(dir, 'oci-layout'), detail: 'unknown imageLayoutVersion' });
  if (!names.includes('index.json')) return [];
  const bytes = await readFile(join(dir, 'index.json'));
  if (bytes.length > MAX_JSON_BYTES) throw fsError('EINVAL', { syscall: SYSCALL, path: join(dir, 'index.json'), detail: `larger than ${MAX_JSON_BYTES} bytes` });
  const index = parseJson(bytes, 'index.json');
  parseIndex(index, 'index.json');
  return (index as { manifests: Array<Record<string, unknown>> }).manifests;
}

function historyOf(snapshot: SnapshotInfo): Record<string, string> {
  const { labels } = snapshot;
  const entry: Record<string, string> = { created: labels[LABEL_HISTORY.created] ?? snapshot.created.toISOString() };
  for (const field of ['created_by', 'author', 'comment'] as const) {
    const value = labels[LABEL_HISTORY[field]];
    if (value !== undefined) entry[field] = value;
  }
  if (Object.keys(entry).length === 1) entry.comment = `cowstack snapshot ${snapshot.key}`;
  return entry;
}

/** A JSON document as a blob; its descriptor. */
async function writeBlob(blobs: string, mediaType: string, document: unknown): Promise<BlobDescriptor> {
  const bytes = Buffer.from(JSON.stringify(document));
  const digest = digestOf(bytes);
  await writeFileAtomic(blobs, digestHex(digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/** Streams a blob to a temporary file, then names it by the digest `digest()` gives once it ended. */
async function writeBlobStream(
  blobs: string, stream: AsyncIterable<Uint8Array>, digest: () => Digest, progress: (bytes: number) => void,
): Promise<Digest> {
  const tmp = join(blobs, `.tmp-${randomUUID()}`);
  try {
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of stream) {
        progress(chunk.length);
        yield chunk;
      }
    };
    await pipeline(counted(), createWriteStream(tmp, { flags: 'wx' }));
    const name = digest();
    await rename(tmp, join(blobs, digestHex(name)));
    return name;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function writeFileAtomic(dir: string, name: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dir, `.tmp-${randomUUID()}`);
  try {
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, join(dir, name));
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
