import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, hasCode } from '../core/errors.js';
import { digestHex, digestOf, isDigest, type Digest } from '../image/digest.js';
import type { BlobDescriptor } from '../image/imageExport.js';
import { MEDIA_TYPES, parseDescriptor, parseJson, type Descriptor } from '../image/oci/documents.js';
import { isZeroBlock } from '../store/isZeroBlock.js';
import { BlockIndex, MAX_BLOCK_INDEX_BYTES, buildBlockIndex } from './BlockIndex.js';
import type { RegistryClient } from './RegistryClient.js';
import type { RemoteImage } from './remoteImage.js';
import type { LocalBlob } from './sendBlobs.js';

/**
 * The block indexes of an image in a registry, as an OCI artifact (image-spec 1.1 `manifest.md`,
 * "Guidelines for Artifact Usage"; distribution-spec 1.1 "Listing Referrers"):
 *
 * - one blob per layer, a `BlockIndex` (`application/vnd.cowstack.block-index.v1`), annotated
 *   `cowstack.layer.digest` with the layer it describes, in the image's layer order;
 * - an artifact manifest: an OCI image manifest with `artifactType` the same media type, the
 *   empty config (`application/vnd.oci.empty.v1+json`, `{}`), those blobs as `layers`, `subject`
 *   the image manifest, and annotation `cowstack.block-size` (ids depend on the block size: a
 *   store finds the artifact of its own size; several may refer to one image);
 * - pushed by its digest. A registry with the referrers API says so (`OCI-Subject` on the `PUT`)
 *   and lists it; for one without (distribution 2.x), the artifact is added to the image index
 *   tagged `sha256-<hex of the image manifest digest>`: the referrers tag schema.
 *
 * Only uncompressed layers can be indexed: a range of a gzip stream cannot be read alone.
 *
 * cowstack's push also names each layer's index in the image manifest itself (layer annotations
 * `cowstack.block-index.<blockSize>` and `….size`, `bindBlockIndexes`), and a lazy pull uses those
 * blobs, fetched by digest, when the manifest names them; the artifact stays for finding indexes
 * of other block sizes and of images pushed before.
 *
 * Trust: every block fetched is checked against its id, and every index against its digest. An
 * index the manifest names is as trustworthy as the manifest: a tag the registry serves, a digest
 * or a signature the puller holds (the way eStargz binds its table of contents, by an annotation
 * on the layer descriptor). An index found only as a referrer is the registry's say (a referrers
 * list or a tag, not content-addressed). Either way the table of contents is the pusher's word
 * for what the layer holds until the layer is read once in full (a check not built: stream the
 * blob, compare its digest and every entry's offset and block ids).
 */
export const BLOCK_INDEX_MEDIA_TYPE = 'application/vnd.cowstack.block-index.v1';
export const LAYER_ANNOTATION = 'cowstack.layer.digest';
export const BLOCK_SIZE_ANNOTATION = 'cowstack.block-size';
/** Image manifest layer annotations naming the layer's block index: `cowstack.block-index.<blockSize>` (and `.size`). */
export const INDEX_ANNOTATION_PREFIX = 'cowstack.block-index.';
const EMPTY_JSON = Buffer.from('{}');
const EMPTY_CONFIG: BlobDescriptor = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(EMPTY_JSON), size: EMPTY_JSON.length };

/** The artifact, ready to go up: its blobs (the indexes and the empty config) and its manifest. */
export interface BlockIndexArtifact {
  readonly blobs: readonly LocalBlob[];
  readonly manifest: Buffer;
}

/**
 * Builds the block index of each uncompressed layer (at `blockSize`), checks it against the
 * layer's bytes (each file's first and last block read back and hashed: an index is never
 * published unchecked) and writes it into `layout/blobs/sha256/`: one blob per layer, in order.
 */
export async function buildBlockIndexes(layers: readonly LocalBlob[], blockSize: number, layout: string): Promise<LocalBlob[]> {
  const blobs: LocalBlob[] = [];
  const dir = join(layout, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  for (const layer of layers) {
    const index = await buildBlockIndex(createReadStream(layer.path), layer.descriptor.digest, blockSize);
    await checkAgainstLayer(index, layer.path);
    const bytes = index.encode();
    const descriptor = { mediaType: BLOCK_INDEX_MEDIA_TYPE, digest: digestOf(bytes), size: bytes.length };
    const path = join(dir, digestHex(descriptor.digest));
    await writeFile(path, bytes);
    blobs.push({ descriptor, path });
  }
  return blobs;
}

/**
 * The image manifest `manifest` (JSON) with each layer descriptor annotated with its block
 * index at `blockSize` (`indexes`, one per layer, in order): `cowstack.block-index.<size>` its
 * digest, `cowstack.block-index.<size>.size` its length. The manifest's digest, which a tag or a
 * signature names, then covers the indexes too.
 */
export function bindBlockIndexes(manifest: Buffer, indexes: readonly LocalBlob[], blockSize: number): Buffer {
  const document = JSON.parse(manifest.toString('utf8')) as { layers: Array<{ annotations?: Record<string, string> }> };
  if (document.layers.length !== indexes.length) throw new RangeError(`${indexes.length} indexes for ${document.layers.length} layers`);
  document.layers.forEach((layer, i) => {
    const { digest, size } = indexes[i]!.descriptor;
    layer.annotations = { ...layer.annotations, [indexAnnotation(blockSize)]: digest, [`${indexAnnotation(blockSize)}.size`]: String(size) };
  });
  return Buffer.from(JSON.stringify(document));
}

/** The artifact of `indexes` (from `buildBlockIndexes` of `layers`), for the image manifest `subject`. */
export async function prepareBlockIndexArtifact(
  indexes: readonly LocalBlob[], layers: readonly LocalBlob[], blockSize: number, subject: BlobDescriptor, layout: string,
): Promise<BlockIndexArtifact> {
  const descriptors = indexes.map((index, i) => ({ ...index.descriptor, annotations: { [LAYER_ANNOTATION]: layers[i]!.descriptor.digest } }));
  const emptyPath = join(layout, 'blobs', 'sha256', digestHex(EMPTY_CONFIG.digest));
  await writeFile(emptyPath, EMPTY_JSON);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: BLOCK_INDEX_MEDIA_TYPE,
    config: EMPTY_CONFIG,
    layers: descriptors,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { [BLOCK_SIZE_ANNOTATION]: String(blockSize) },
  }));
  return { blobs: [...indexes, { descriptor: EMPTY_CONFIG, path: emptyPath }], manifest };
}

/**
 * Puts the artifact's manifest (its blobs are up already), and lists it among the referrers of
 * `subject` in the `sha256-<hex>` tag's index when the registry does not keep referrers itself.
 */
export async function publishBlockIndexArtifact(client: RegistryClient, artifact: BlockIndexArtifact, subject: Digest): Promise<void> {
  const digest = digestOf(artifact.manifest);
  const { subjectKept } = await client.putManifest(digest, MEDIA_TYPES.ociManifest, artifact.manifest);
  if (subjectKept) return;
  const tag = referrersTag(subject);
  const manifests = await referrersByTag(client, subject);
  if (manifests.some((manifest) => manifest.digest === digest)) return;
  const entry = { mediaType: MEDIA_TYPES.ociManifest, digest, size: artifact.manifest.length, artifactType: BLOCK_INDEX_MEDIA_TYPE };
  const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [...manifests, entry] };
  await client.putManifest(tag, MEDIA_TYPES.ociIndex, Buffer.from(JSON.stringify(index)));
}

/**
 * The block index of every layer of `image` at `blockSize`. Where the image manifest names them
 * (`bindBlockIndexes`: annotations on every layer), those blobs, fetched by digest: as
 * trustworthy as the manifest itself. Else from the artifact that refers to the manifest: found
 * by the referrers API or the `sha256-<hex>` tag, its manifest checked (its `subject` is the
 * image, one index per layer in order); as good as the registry's word. Either way every index
 * blob is checked against its digest, decoded and matched to its layer (digest, size, block
 * size). `ENOENT` when there is no index at `blockSize` (the image was pushed without `lazy`,
 * or from a store of another block size, or a named index blob is missing), or the manifest
 * names indexes for some layers only; `EINVAL` for a malformed one.
 */
export async function fetchBlockIndexes(client: RegistryClient, image: RemoteImage, blockSize: number): Promise<BlockIndex[]> {
  const bound = boundIndexes(image, blockSize);
  if (bound !== undefined) return Promise.all(bound.map(async (blob, i) => readIndex(client, blob, image, i, blockSize)));
  const listed = await client.getReferrers(image.digest, BLOCK_INDEX_MEDIA_TYPE);
  const referrers = listed === undefined ? await referrersByTag(client, image.digest) : manifestsOf(parseJson(listed, `referrers of ${image.digest}`));
  for (const referrer of referrers) {
    if (referrer.artifactType !== BLOCK_INDEX_MEDIA_TYPE) continue;
    const descriptor = parseDescriptor(referrer, `referrer of ${image.digest}`);
    const fetched = await client.getManifest(descriptor.digest);
    const layers = artifactLayers(parseJson(fetched.bytes, descriptor.digest), image, blockSize, descriptor.digest);
    if (layers === undefined) continue;
    const indexes: BlockIndex[] = [];
    for (const [i, layer] of layers.entries()) indexes.push(await readIndex(client, layer, image, i, blockSize));
    return indexes;
  }
  throw fsError('ENOENT', { syscall: 'blockIndex', path: image.digest, detail: `no block index at block size ${blockSize} refers to this image: push it with lazy from a store of that block size` });
}

/** The annotation key naming a layer's block index at `blockSize` (`bindBlockIndexes`). */
function indexAnnotation(blockSize: number): string {
  return `${INDEX_ANNOTATION_PREFIX}${blockSize}`;
}

/** The index blobs the image manifest names at `blockSize`, one per layer; undefined when it names none. */
function boundIndexes(image: RemoteImage, blockSize: number): Array<{ digest: Digest; size: number }> | undefined {
  const key = indexAnnotation(blockSize);
  const named = image.layers.filter((layer) => layer.annotations[key] !== undefined).length;
  if (named === 0) return undefined;
  if (named !== image.layers.length) {
    // An image built on a lazily pushed base by a tool that kept the base layers' annotations: it
    // cannot be pulled lazily, and going by referrers would trust the registry over the manifest.
    throw fsError('ENOENT', { syscall: 'blockIndex', path: image.digest, detail: `the manifest names a block index (${key}) for ${named} of its ${image.layers.length} layers only: pull it in full` });
  }
  return image.layers.map((layer, i) => {
    const digest = layer.annotations[key]!;
    const size = Number(layer.annotations[`${key}.size`]);
    if (!isDigest(digest) || !Number.isSafeInteger(size) || size <= 0) {
      throw fsError('EINVAL', { syscall: 'blockIndex', path: image.digest, detail: `layer ${i} names a malformed block index: ${digest}, ${layer.annotations[`${key}.size`] ?? 'no size'}` });
    }
    return { digest, size };
  });
}

/** Index blob `blob`, checked against its digest, decoded, and matched to layer `i` of `image` at `blockSize`. */
async function readIndex(client: RegistryClient, blob: { digest: Digest; size: number }, image: RemoteImage, i: number, blockSize: number): Promise<BlockIndex> {
  const index = BlockIndex.decode(await client.readBlob(blob, MAX_BLOCK_INDEX_BYTES), blob.digest);
  const expected = image.layers[i]!;
  if (index.layer !== expected.digest || index.layerSize !== expected.size || index.blockSize !== blockSize) {
    throw fsError('EINVAL', { syscall: 'blockIndex', path: blob.digest, detail: `the index describes ${index.layer} (${index.layerSize} bytes, blocks of ${index.blockSize}), not layer ${i} ${expected.digest} (${expected.size} bytes) at ${blockSize}` });
  }
  return index;
}

/** The tag of the referrers tag schema: `sha256-<hex>`. */
function referrersTag(subject: Digest): string {
  return `sha256-${digestHex(subject)}`;
}

/** A raw descriptor of an index's `manifests`, with the fields the referrers list adds. */
interface Referrer {
  readonly digest?: unknown;
  readonly artifactType?: unknown;
}

/** The manifests the `sha256-<hex>` tag lists (raw, so other tools' entries survive a rewrite); none when the tag is missing. */
async function referrersByTag(client: RegistryClient, subject: Digest): Promise<Referrer[]> {
  try {
    const fetched = await client.getManifest(referrersTag(subject));
    return manifestsOf(parseJson(fetched.bytes, referrersTag(subject)));
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return [];
    throw error;
  }
}

function manifestsOf(index: unknown): Referrer[] {
  const manifests = (index as { manifests?: unknown } | null)?.manifests;
  if (!Array.isArray(manifests)) throw fsError('EINVAL', { syscall: 'blockIndex', detail: 'a referrers list is not an image index' });
  return manifests.filter((item): item is Referrer => typeof item === 'object' && item !== null);
}

/**
 * The index blobs of an artifact manifest, one per layer of `image` in order; `undefined` when
 * the manifest is not a block index of this image at `blockSize` (another tool's, or stale).
 */
function artifactLayers(document: unknown, image: RemoteImage, blockSize: number, what: string): Descriptor[] | undefined {
  const fields = (typeof document === 'object' && document !== null ? document : {}) as Record<string, unknown>;
  const subject = fields.subject === undefined ? undefined : parseDescriptor(fields.subject, `${what} subject`);
  const annotations = (fields.annotations ?? {}) as Record<string, unknown>;
  if (fields.artifactType !== BLOCK_INDEX_MEDIA_TYPE || subject?.digest !== image.digest || annotations[BLOCK_SIZE_ANNOTATION] !== String(blockSize)) return undefined;
  if (!Array.isArray(fields.layers)) throw fsError('EINVAL', { syscall: 'blockIndex', path: what, detail: 'the artifact has no layers' });
  const layers = fields.layers.map((item, i) => parseDescriptor(item, `${what} layers[${i}]`));
  const matches = layers.length === image.layers.length && layers.every((layer, i) => layer.mediaType === BLOCK_INDEX_MEDIA_TYPE && layer.annotations[LAYER_ANNOTATION] === image.layers[i]!.digest);
  return matches ? layers : undefined;
}

/** Reads back each file's first and last block from the layer and checks them against the index's ids. */
async function checkAgainstLayer(index: BlockIndex, path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    for (const entry of index.entries) {
      const blocks = index.fileBlocks(entry);
      if (blocks.length === 0) continue;
      for (const i of new Set([0, blocks.length - 1])) {
        const start = i * index.blockSize;
        const length = Math.min(index.blockSize, entry.size! - start);
        const bytes = Buffer.alloc(length);
        await file.read(bytes, 0, length, entry.offset! + start);
        const id = blocks[i]!;
        const matches = id === null ? isZeroBlock(bytes) : createHash('sha256').update(bytes).digest('hex') === id;
        if (!matches) throw fsError('EINTEGRITY', { syscall: 'blockIndex', path: entry.path, detail: `block ${i} of the index does not match the layer's bytes at ${entry.offset! + start}` });
      }
    }
  } finally {
    await file.close();
  }
}
