import { fsError, type CowstackError } from '../../core/errors.js';
import { parseDigest, type Digest } from '../digest.js';

/**
 * The JSON documents of an image (image-spec `descriptor.md`, `image-index.md`, `manifest.md`,
 * `config.md`, and `docker save`'s `manifest.json`), parsed from untrusted bytes into checked
 * values: every digest validated before it can name a blob, every field typed. A document that
 * does not fit rejects with `EINVAL` (syscall `importImage`, `path` naming the document).
 */

export const MEDIA_TYPES = Object.freeze({
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
});

/** Layer media types `importImage` takes (gzip or not: detected by its magic). */
const LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

/** The annotation naming a manifest in an OCI layout's `index.json`. */
export const REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's full image name annotation (`docker.io/library/busybox:latest`). */
const CONTAINERD_NAME = 'io.containerd.image.name';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly annotations: Readonly<Record<string, string>>;
  readonly platform: Platform | undefined;
}

export interface Manifest {
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** A config as far as cowstack reads it: the layers' diffIDs and their history. */
export interface ImageConfig {
  readonly diffIds: readonly Digest[];
  readonly history: readonly HistoryEntry[];
}

export interface HistoryEntry {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/** One image of `docker save`'s `manifest.json`: member names inside the archive. */
export interface DockerImage {
  readonly config: string;
  readonly repoTags: readonly string[];
  readonly layers: readonly string[];
}

const SYSCALL = 'importImage';

function invalid(what: string, detail: string): CowstackError {
  return fsError('EINVAL', { syscall: SYSCALL, path: what, detail });
}

/** Parses JSON bytes; `what` names the document in errors. */
export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch (cause) {
    throw fsError('EINVAL', { syscall: SYSCALL, path: what, detail: 'not valid JSON', cause });
  }
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(what, 'is not a JSON object');
  return value as Record<string, unknown>;
}

function array(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(what, 'is not a JSON array');
  return value;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(what, 'is not a string');
  return value;
}

function strings(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') out[key] = item;
  return out;
}

export function parseDescriptor(value: unknown, what: string): Descriptor {
  const fields = object(value, what);
  const size = fields.size;
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw invalid(what, 'size is not a non-negative integer');
  const platform = typeof fields.platform === 'object' && fields.platform !== null ? (fields.platform as Record<string, unknown>) : undefined;
  return {
    mediaType: string(fields.mediaType, `${what} mediaType`),
    digest: parseDigest(fields.digest, `${what} digest`),
    size: size as number,
    annotations: strings(fields.annotations),
    platform: platform === undefined || typeof platform.os !== 'string' || typeof platform.architecture !== 'string'
      ? undefined
      : { os: platform.os, architecture: platform.architecture },
  };
}

/** The manifests an image index (or `index.json`) lists. */
export function parseIndex(value: unknown, what: string): Descriptor[] {
  const fields = object(value, what);
  if (fields.schemaVersion !== 2) throw invalid(what, 'schemaVersion is not 2');
  return array(fields.manifests, `${what} manifests`).map((item, i) => parseDescriptor(item, `${what} manifests[${i}]`));
}

export function parseManifest(value: unknown, what: string): Manifest {
  const fields = object(value, what);
  if (fields.schemaVersion !== 2) throw invalid(what, 'schemaVersion is not 2');
  const layers = array(fields.layers, `${what} layers`).map((item, i) => parseDescriptor(item, `${what} layers[${i}]`));
  for (const [i, layer] of layers.entries()) {
    if (layer.mediaType.includes('zstd')) throw invalid(`${what} layers[${i}]`, `${layer.mediaType}: zstd layers are not supported (Node 20 has no zstd)`);
    if (!LAYER_MEDIA_TYPES.has(layer.mediaType)) throw invalid(`${what} layers[${i}]`, `unsupported layer media type ${layer.mediaType}`);
  }
  return { config: parseDescriptor(fields.config, `${what} config`), layers };
}

export function parseConfig(value: unknown, what: string): ImageConfig {
  const fields = object(value, what);
  const rootfs = object(fields.rootfs, `${what} rootfs`);
  if (rootfs.type !== 'layers') throw invalid(what, 'rootfs.type is not "layers"');
  const diffIds = array(rootfs.diff_ids, `${what} rootfs.diff_ids`).map((item, i) => parseDigest(item, `${what} rootfs.diff_ids[${i}]`));
  const history: HistoryEntry[] = [];
  for (const item of Array.isArray(fields.history) ? fields.history : []) {
    const entry = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    const out: Record<string, string | boolean> = {};
    for (const key of ['created', 'created_by', 'author', 'comment'] as const) if (typeof entry[key] === 'string') out[key] = entry[key];
    if (entry.empty_layer === true) out.empty_layer = true;
    history.push(out as HistoryEntry);
  }
  return { diffIds, history };
}

/** `docker save`'s `manifest.json`: an array of `{ Config, RepoTags, Layers }`. */
export function parseDockerManifest(value: unknown, what: string): DockerImage[] {
  return array(value, what).map((item, i) => {
    const fields = object(item, `${what}[${i}]`);
    return {
      config: string(fields.Config, `${what}[${i}].Config`),
      repoTags: Array.isArray(fields.RepoTags) ? fields.RepoTags.filter((tag): tag is string => typeof tag === 'string') : [],
      layers: array(fields.Layers, `${what}[${i}].Layers`).map((layer, j) => string(layer, `${what}[${i}].Layers[${j}]`)),
    };
  });
}

/** The names a descriptor of `index.json` goes by: its ref name and containerd's full name. */
export function refNames(descriptor: Descriptor): string[] {
  return [descriptor.annotations[REF_NAME], descriptor.annotations[CONTAINERD_NAME]].filter((name): name is string => name !== undefined);
}

/**
 * The one of `candidates` that `tag` names: a name equal to it, or else one ending in `:tag`
 * (`busybox:latest` for `latest`). Without `tag`, the only candidate. Rejects with `ENOENT` when
 * none matches, `EINVAL` listing them when several do (or several are there and no tag is given).
 */
export function pickByTag<T>(candidates: readonly T[], names: (candidate: T) => readonly string[], tag: string | undefined, what: string): T {
  const list = (): string => candidates.map((candidate) => names(candidate).join(' | ') || '(untagged)').join(', ');
  if (tag === undefined) {
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0) throw invalid(what, 'holds no image');
    throw invalid(what, `holds ${candidates.length} images; pick one with a tag: ${list()}`);
  }
  let matches = candidates.filter((candidate) => names(candidate).includes(tag));
  if (matches.length === 0) matches = candidates.filter((candidate) => names(candidate).some((name) => name.endsWith(`:${tag}`)));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw fsError('ENOENT', { syscall: SYSCALL, path: what, detail: `no image tagged '${tag}'; there are: ${list()}` });
  throw invalid(what, `tag '${tag}' is ambiguous: ${matches.map((match) => names(match).join(' | ')).join(', ')}`);
}

const ARCHITECTURES: Readonly<Record<string, string>> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
};

/** This machine's platform in OCI (Go) terms: `linux`/`amd64` for Node's `linux`/`x64`. */
export function hostPlatform(): Platform {
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: ARCHITECTURES[process.arch] ?? process.arch };
}
