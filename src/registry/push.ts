import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsError } from '../core/errors.js';
import { digestHex, digestOf } from '../image/digest.js';
import { exportImage, type BlobDescriptor } from '../image/imageExport.js';
import { checkAborted } from '../image/oci/byteStream.js';
import type { Store } from '../snapshots/Store.js';
import { bindBlockIndexes, buildBlockIndexes, prepareBlockIndexArtifact, publishBlockIndexArtifact } from './blockIndexArtifact.js';
import { checkRepository, parseReference } from './Reference.js';
import { RegistryClient } from './RegistryClient.js';
import type { PushOptions, PushResult } from './RegistryOptions.js';
import { chunkSizeOf, sendBlobs, type LocalBlob } from './sendBlobs.js';

const SYSCALL = 'push';

/**
 * Pushes committed snapshot `key` to the registry as image `ref` (`host[:port]/name[:tag]`, or
 * `…@digest` to push by digest, which must then be the manifest's).
 *
 * The image is what `exportImage` writes (it is called, into a temporary layout): one gzip'd
 * layer per snapshot of `key`'s chain, bottom first, a config and an OCI manifest. Equal
 * snapshots give equal blobs, so a blob the registry has (`HEAD`) is not sent again, nor
 * counted in `bytesSent`: pushing a child of an image pushed before sends its new layers, the
 * config and the manifest. A blob it lacks is mounted from `mountFrom` when given and the
 * registry agrees, else uploaded (`RegistryClient.uploadBlob`: one `PUT`, or chunks above
 * `chunkSize`). The manifest goes last, so the registry never names an image whose blobs it does
 * not hold. With `lazy`, the layers go up uncompressed and a block index of each is published
 * beside them (`blockIndexArtifact.ts`): named by the manifest's layer annotations (so the
 * manifest's digest covers them), and as an artifact whose subject is the image manifest.
 *
 * Resolves to `{ digest, bytesSent, blobsSkipped }`. Errors: as `exportImage` (`ENOENT`,
 * `EINVAL` for a key not committed), `parseReference`, and `RegistryClient` (`EACCES`,
 * `ECONNRESET` once `retries` are spent, `EIO`…). A failed push leaves the registry with
 * whatever blobs went up (harmless, unnamed) and its tag as it was. Progress: `{ done, total,
 * unit: 'bytes' }` of blob bytes sent.
 */
export async function push(store: Store, key: string, ref: string, options: PushOptions = {}): Promise<PushResult> {
  const reference = parseReference(ref);
  chunkSizeOf(options);
  if (options.mountFrom !== undefined) checkRepository(options.mountFrom);
  const { signal } = options;
  checkAborted(signal, SYSCALL, ref);
  const client = new RegistryClient(reference, options, SYSCALL, 'pull,push');
  const layout = await mkdtemp(join(tmpdir(), 'cowstack-push-'));
  try {
    const image = await exportImage(store, key, layout, { signal, compress: options.lazy !== true });
    const blobPath = (descriptor: BlobDescriptor): string => join(layout, 'blobs', 'sha256', digestHex(descriptor.digest));
    const layers: readonly LocalBlob[] = image.layers.map((descriptor) => ({ descriptor, path: blobPath(descriptor) }));
    const indexes = options.lazy === true ? await buildBlockIndexes(layers, store.blockSize, layout) : undefined;
    const exported = await readFile(blobPath(image.manifest));
    const manifestBytes = indexes === undefined ? exported : bindBlockIndexes(exported, indexes, store.blockSize);
    const manifest = { mediaType: image.manifest.mediaType, digest: digestOf(manifestBytes), size: manifestBytes.length };
    if (reference.digest !== undefined && reference.digest !== manifest.digest) {
      throw fsError('EINVAL', { syscall: SYSCALL, path: ref, detail: `the image's manifest is ${manifest.digest}, not the digest the reference names` });
    }
    const artifact = indexes === undefined ? undefined : await prepareBlockIndexArtifact(indexes, layers, store.blockSize, manifest, layout);
    const config = { descriptor: image.config, path: blobPath(image.config) };
    const blobsSkipped = await sendBlobs(client, [...layers, config, ...(artifact?.blobs ?? [])], options);
    const { digest } = await client.putManifest(reference.digest ?? reference.tag!, manifest.mediaType, manifestBytes);
    if (artifact !== undefined) await publishBlockIndexArtifact(client, artifact, digest);
    return { digest, bytesSent: client.counters.bytesSent, blobsSkipped };
  } finally {
    await rm(layout, { recursive: true, force: true });
  }
}
