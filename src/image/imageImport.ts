import { stat } from 'node:fs/promises';
import { fsError } from '../core/errors.js';
import type { LongOperation, SnapshotInfo, Store } from '../snapshots/Store.js';
import { chainIds, checkDigest, digestHex, digestOf, isDigest, type Digest } from './digest.js';
import { applyLayer } from './layerImport.js';
import { checkAborted } from './oci/byteStream.js';
import {
  MEDIA_TYPES, hostPlatform, parseConfig, parseDockerManifest, parseIndex, parseJson, parseManifest, pickByTag, refNames,
  type Descriptor, type ImageConfig,
} from './oci/documents.js';
import { ImageArchive } from './oci/ImageArchive.js';
import type { ImageFiles } from './oci/ImageFiles.js';
import { committedMeanwhile, hasChainLayer, layerLabels } from './oci/chainLayers.js';
import { LayoutDirectory } from './oci/LayoutDirectory.js';
import { MAX_INDEX_DEPTH, MAX_JSON_BYTES, type LayerLimits } from './oci/limits.js';

export interface ImportImageOptions extends LongOperation {
  /** Picks the image where the source holds several (`index.json` ref names, `RepoTags`). */
  tag?: string;
  /** Bounds on each layer (see `LAYER_LIMITS`). */
  limits?: Partial<LayerLimits>;
}

/** One layer of the chosen image: where its blob is, and what it must hash to. */
interface LayerRef {
  readonly name: string;
  /** The blob's digest and size, when the image says them (not `docker save`'s legacy format). */
  readonly digest: Digest | undefined;
  readonly size: number | undefined;
}

interface ResolvedImage {
  readonly layers: readonly LayerRef[];
  readonly config: ImageConfig;
}

const SYSCALL = 'importImage';

/**
 * Imports an image: `source` is an OCI image layout directory, or a tar (or tar.gz) of `docker
 * save` (`manifest.json` and the layers and configs it names, in the legacy or the Docker 25
 * layout) or of an OCI layout. `tag` picks one image where the source holds several: a name of
 * `index.json`'s `org.opencontainers.image.ref.name` or `io.containerd.image.name` annotation, or
 * of `manifest.json`'s `RepoTags`, equal to it or ending in `:tag`. An image index (multi-platform)
 * is resolved to this machine's platform.
 *
 * Each layer becomes a committed snapshot keyed by its chain ID (`sha256:…`), on the one below it,
 * bottom first. A chain ID the store already has (committed, on the right parent) is used as it is,
 * its blob never read: images sharing base layers share those snapshots. Labels: the layer's
 * diffID (`cowstack.diff_id`) and its config history entry (`cowstack.history.*`, see
 * `LABEL_HISTORY`). Resolves to the top snapshot's `SnapshotInfo`.
 *
 * Checked before anything is committed: every digest's form (`sha256:` + 64 lowercase hex) before
 * it names a blob; the manifest, index and config blobs against their descriptors' digests and
 * sizes, and a layer blob's digest and size (when the image gives them) and the digest of its
 * uncompressed tar against the config's `diff_ids`. A mismatch rejects with `EINTEGRITY` and
 * that layer is not committed (layers below it stay: they are correct, and a retry reuses them).
 *
 * Rejects with `ENOENT` for a missing source, blob or member, or a `tag` no image has; `EINVAL`
 * for a source that is no image, a malformed document, a digest of another form, several images
 * and no (or an ambiguous) `tag` (the message lists them), an unsupported layer media type
 * (zstd), as many diff_ids as layers not, a chain ID taken by a snapshot that is not a committed
 * one on the chain below; and as `importLayer` for a bad layer. `ABORT_ERR` once `signal` is
 * aborted. Progress: `{ done, total, unit: 'bytes' }` over the layer blobs imported.
 */
export async function importImage(store: Store, source: string, options: ImportImageOptions = {}): Promise<SnapshotInfo> {
  if (typeof source !== 'string') throw new TypeError('source must be a path');
  const { signal } = options;
  checkAborted(signal, SYSCALL, source);
  const files = await openImageFiles(source, signal);
  try {
    const image = await resolveImage(files, options.tag);
    const chain = chainIds(image.config.diffIds);
    const present = await Promise.all(chain.map((key, i) => hasChainLayer(store, key, chain[i - 1], SYSCALL)));
    const needed = image.layers.filter((_, i) => !present[i]);
    await files.prepare(needed.map((layer) => layer.name), signal);
    const total = await sumSizes(files, needed);
    const history = image.config.history.filter((entry) => entry.empty_layer !== true);
    let done = 0;
    for (const [i, layer] of image.layers.entries()) {
      checkAborted(signal, SYSCALL, source);
      const key = chain[i]!;
      if (present[i] === true || (await hasChainLayer(store, key, chain[i - 1], SYSCALL))) continue;
      const opened = await files.open(layer.name);
      const diffId = image.config.diffIds[i]!;
      try {
        await applyLayer(store, key, chain[i - 1], opened, {
          signal, limits: options.limits, onProgress: options.onProgress, progressStart: done, progressTotal: total,
          labels: layerLabels(history[i], diffId),
          expect: { digest: layer.digest, size: layer.size, diffId, name: layer.name },
        });
      } catch (error) {
        if (!(await committedMeanwhile(error, store, key, chain[i - 1], SYSCALL))) throw error;
      }
      done += opened.total ?? 0;
    }
    return await store.stat(chain[chain.length - 1]!);
  } finally {
    await files.close();
  }
}

/** A layout directory, or an archive (of `docker save` or of a layout). */
async function openImageFiles(source: string, signal: AbortSignal | undefined): Promise<ImageFiles> {
  const stats = await stat(source);
  if (stats.isDirectory()) return new LayoutDirectory(source);
  if (!stats.isFile()) throw fsError('EINVAL', { syscall: SYSCALL, path: source, detail: 'neither a directory nor a file' });
  return ImageArchive.open(source, signal);
}

async function resolveImage(files: ImageFiles, tag: string | undefined): Promise<ResolvedImage> {
  if (files.kind === 'archive' && (await files.has('manifest.json'))) return resolveDockerImage(files, tag);
  if (await files.has('index.json')) return resolveOciImage(files, tag);
  throw fsError('EINVAL', { syscall: SYSCALL, detail: `not an image: the ${files.kind} has no index.json${files.kind === 'archive' ? ' and no manifest.json' : ''}` });
}

/** `docker save`: `manifest.json` names the config and layer members; diffIDs are the only layer digests. */
async function resolveDockerImage(files: ImageFiles, tag: string | undefined): Promise<ResolvedImage> {
  const images = parseDockerManifest(parseJson(await files.read('manifest.json', MAX_JSON_BYTES), 'manifest.json'), 'manifest.json');
  const image = pickByTag(images, (candidate) => candidate.repoTags, tag, 'manifest.json');
  const configBytes = await files.read(image.config, MAX_JSON_BYTES);
  const configDigest = digestInName(image.config);
  if (configDigest !== undefined) checkDigest(digestOf(configBytes), configDigest, image.config);
  const config = parseConfig(parseJson(configBytes, image.config), image.config);
  checkLayerCount(config, image.layers.length, image.config);
  return { config, layers: image.layers.map((name) => ({ name, digest: digestInName(name), size: undefined })) };
}

async function resolveOciImage(files: ImageFiles, tag: string | undefined): Promise<ResolvedImage> {
  const candidates = parseIndex(parseJson(await files.read('index.json', MAX_JSON_BYTES), 'index.json'), 'index.json');
  let descriptor = pickDescriptor(candidates, tag);
  for (let depth = 0; isIndex(descriptor); depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw fsError('EINVAL', { syscall: SYSCALL, path: descriptor.digest, detail: `image indexes nest deeper than ${MAX_INDEX_DEPTH}` });
    descriptor = pickPlatform(parseIndex(await readBlob(files, descriptor), descriptor.digest), descriptor.digest);
  }
  if (descriptor.mediaType !== MEDIA_TYPES.ociManifest && descriptor.mediaType !== MEDIA_TYPES.dockerManifest) {
    throw fsError('EINVAL', { syscall: SYSCALL, path: descriptor.digest, detail: `not an image manifest: ${descriptor.mediaType}` });
  }
  const manifest = parseManifest(await readBlob(files, descriptor), descriptor.digest);
  const config = parseConfig(await readBlob(files, manifest.config), manifest.config.digest);
  checkLayerCount(config, manifest.layers.length, manifest.config.digest);
  return {
    config,
    layers: manifest.layers.map((layer) => ({ name: blobName(layer.digest), digest: layer.digest, size: layer.size })),
  };
}

/** The image of `index.json` that `tag` names; without one, the only image, or the only one for this platform. */
function pickDescriptor(candidates: readonly Descriptor[], tag: string | undefined): Descriptor {
  if (tag === undefined && candidates.length > 1) {
    const host = hostPlatform();
    const mine = candidates.filter((candidate) => candidate.platform?.os === host.os && candidate.platform.architecture === host.architecture);
    if (mine.length === 1) return mine[0]!;
  }
  return pickByTag(candidates, refNames, tag, 'index.json');
}

/** The manifest of an image index for this machine's platform (the first, when several are). */
function pickPlatform(manifests: readonly Descriptor[], what: string): Descriptor {
  const host = hostPlatform();
  const mine = manifests.find((manifest) => manifest.platform === undefined
    ? manifests.length === 1
    : manifest.platform.os === host.os && manifest.platform.architecture === host.architecture);
  if (mine !== undefined) return mine;
  const offered = manifests.map((manifest) => (manifest.platform === undefined ? '(no platform)' : `${manifest.platform.os}/${manifest.platform.architecture}`));
  throw fsError('ENOENT', { syscall: SYSCALL, path: what, detail: `no manifest for ${host.os}/${host.architecture}; the index has: ${offered.join(', ')}` });
}

function isIndex(descriptor: Descriptor): boolean {
  return descriptor.mediaType === MEDIA_TYPES.ociIndex || descriptor.mediaType === MEDIA_TYPES.dockerManifestList;
}

/** A JSON blob, checked against its descriptor (size, then digest) and parsed. */
async function readBlob(files: ImageFiles, descriptor: Descriptor): Promise<unknown> {
  if (descriptor.size > MAX_JSON_BYTES) {
    throw fsError('EINVAL', { syscall: SYSCALL, path: descriptor.digest, detail: `a ${descriptor.mediaType} of ${descriptor.size} bytes is larger than ${MAX_JSON_BYTES}` });
  }
  const bytes = await files.read(blobName(descriptor.digest), MAX_JSON_BYTES);
  if (bytes.length !== descriptor.size) {
    throw fsError('EINTEGRITY', { syscall: 'digest', path: descriptor.digest, detail: `blob is ${bytes.length} bytes, expected ${descriptor.size}` });
  }
  checkDigest(digestOf(bytes), descriptor.digest, descriptor.digest);
  return parseJson(bytes, descriptor.digest);
}

function blobName(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** The digest a member's name states (`blobs/sha256/HEX`, or legacy `HEX.json`), to check it against. */
function digestInName(name: string): Digest | undefined {
  const hex = /^(?:\.\/)?(?:blobs\/sha256\/([0-9a-f]{64})|([0-9a-f]{64})\.json)$/.exec(name);
  const digest = hex === null ? undefined : `sha256:${hex[1] ?? hex[2]}`;
  return isDigest(digest) ? digest : undefined;
}

function checkLayerCount(config: ImageConfig, layers: number, what: string): void {
  if (config.diffIds.length !== layers) {
    throw fsError('EINVAL', { syscall: SYSCALL, path: what, detail: `the config has ${config.diffIds.length} diff_ids for ${layers} layers` });
  }
  if (layers === 0) throw fsError('EINVAL', { syscall: SYSCALL, path: what, detail: 'the image has no layers: there is no snapshot to make' });
}

async function sumSizes(files: ImageFiles, layers: readonly LayerRef[]): Promise<number> {
  let total = 0;
  for (const layer of layers) total += layer.size ?? (await files.size(layer.name));
  return total;
}
