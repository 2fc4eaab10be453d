import { fsError } from '../core/errors.js';
import type { Digest } from '../image/digest.js';
import {
  MEDIA_TYPES, hostPlatform, parseConfig, parseIndex, parseJson, parseManifest, type Descriptor, type ImageConfig,
} from '../image/oci/documents.js';
import { MAX_INDEX_DEPTH } from '../image/oci/limits.js';
import type { RegistryClient } from './RegistryClient.js';

/** An image in a registry, resolved to one platform's manifest, its config read and checked. */
export interface RemoteImage {
  /** The image manifest's digest (not the index's, when the reference named an index). */
  readonly digest: Digest;
  readonly mediaType: string;
  readonly config: ImageConfig;
  /** Bottom first. */
  readonly layers: readonly Descriptor[];
}

const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const IMAGE_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/**
 * Fetches the manifest `reference` (a tag or a digest) names; an image index (OCI) or manifest
 * list (Docker) is followed to this machine's platform (`hostPlatform`), nested ones up to
 * `MAX_INDEX_DEPTH`. Then reads the config. Every document is checked against its digest first
 * (`EINTEGRITY`), then parsed as `importImage` parses them (`EINVAL` for a malformed one, an
 * unsupported layer type, as many diff_ids as layers not, or no layers). Docker's schema 1
 * manifests and other types are `EINVAL`; an index without this platform is `ENOENT`.
 */
export async function resolveRemoteImage(client: RegistryClient, reference: string, syscall: string): Promise<RemoteImage> {
  let fetched = await client.getManifest(reference);
  for (let depth = 0; INDEX_TYPES.has(fetched.mediaType); depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw fsError('EINVAL', { syscall, path: fetched.digest, detail: `image indexes nest deeper than ${MAX_INDEX_DEPTH}` });
    const chosen = platformManifest(parseIndex(parseJson(fetched.bytes, fetched.digest), fetched.digest), fetched.digest, syscall);
    fetched = await client.getManifest(chosen.digest);
    if (fetched.bytes.length !== chosen.size) {
      throw fsError('EINTEGRITY', { syscall: 'digest', path: chosen.digest, detail: `manifest is ${fetched.bytes.length} bytes, the index says ${chosen.size}` });
    }
  }
  if (!IMAGE_TYPES.has(fetched.mediaType)) {
    throw fsError('EINVAL', { syscall, path: reference, detail: `not an image manifest cowstack reads: ${fetched.mediaType || 'no media type'} (OCI and Docker schema 2 are)` });
  }
  const manifest = parseManifest(parseJson(fetched.bytes, fetched.digest), fetched.digest);
  const configBytes = await client.readBlob(manifest.config);
  const config = parseConfig(parseJson(configBytes, manifest.config.digest), manifest.config.digest);
  if (config.diffIds.length !== manifest.layers.length) {
    throw fsError('EINVAL', { syscall, path: manifest.config.digest, detail: `the config has ${config.diffIds.length} diff_ids for ${manifest.layers.length} layers` });
  }
  if (manifest.layers.length === 0) throw fsError('EINVAL', { syscall, path: fetched.digest, detail: 'the image has no layers: there is no snapshot to make' });
  return { digest: fetched.digest, mediaType: fetched.mediaType, config, layers: manifest.layers };
}

/**
 * The manifest of an index for this machine: the one whose platform is this OS and architecture
 * (the first, when several are: variants are not told apart), or the only one when none states a
 * platform. `ENOENT` listing the platforms offered otherwise.
 */
function platformManifest(manifests: readonly Descriptor[], what: string, syscall: string): Descriptor {
  const host = hostPlatform();
  const images = manifests.filter((manifest) => IMAGE_TYPES.has(manifest.mediaType) || INDEX_TYPES.has(manifest.mediaType));
  const mine = images.find((manifest) => manifest.platform?.os === host.os && manifest.platform.architecture === host.architecture)
    ?? (images.length === 1 && images[0]!.platform === undefined ? images[0] : undefined);
  if (mine !== undefined) return mine;
  const offered = images.map((manifest) => (manifest.platform === undefined ? '(no platform)' : `${manifest.platform.os}/${manifest.platform.architecture}`));
  throw fsError('ENOENT', { syscall, path: what, detail: `no manifest for ${host.os}/${host.architecture}; the index has: ${offered.join(', ') || 'none'}` });
}
