import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { fsError } from '../core/errors.js';
import { parseDigest, type Digest } from '../image/digest.js';

/**
 * An image reference, `host[:port]/name[:tag|@digest]`, parsed as the distribution project's
 * `reference` package does (docker/distribution `reference/regexp.go`):
 *
 * - The first `/`-separated component is the registry when it holds a `.` or a `:`, is
 *   `localhost`, or is a bracketed IPv6 address; otherwise the registry is Docker Hub and a
 *   one-component name gets `library/` (`alpine` is `docker.io/library/alpine`).
 * - Name components: lowercase letters and digits, separated by `.`, `_`, `__` or runs of `-`;
 *   the whole name (registry included) at most 255 characters.
 * - A tag: a word character, then up to 127 of `[A-Za-z0-9_.-]`. A digest: `sha256:` and 64
 *   lowercase hex digits (the only algorithm cowstack checks). With both, the digest names the
 *   manifest and the tag is dropped, as `docker pull` does. With neither, the tag is `latest`.
 */
export interface Reference {
  /** `host[:port]` as written (`docker.io` for Docker Hub): what the ref names. */
  readonly registry: string;
  /** The host to connect to, without brackets (`registry-1.docker.io` for Docker Hub). */
  readonly hostname: string;
  /** `host[:port]` to connect to: in URLs. */
  readonly authority: string;
  /** The repository: `name` in `/v2/<name>/…`. */
  readonly repository: string;
  /** The tag, when the manifest is named by one. */
  readonly tag: string | undefined;
  /** The digest, when the manifest is named by one. */
  readonly digest: Digest | undefined;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_HOST = 'registry-1.docker.io';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const REGISTRY = new RegExp(`^(?:(${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*)|\\[([0-9A-Fa-f:.]+)\\])(?::([0-9]{1,5}))?$`);
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX_NAME = 255;
const SYSCALL = 'reference';

/** The tag a reference without tag or digest names. */
const DEFAULT_TAG = 'latest';

/** Parses `ref`; rejects with `EINVAL` (syscall `reference`, `path` the ref) saying what is wrong. */
export function parseReference(ref: string): Reference {
  if (typeof ref !== 'string') throw new TypeError('an image reference must be a string');
  const invalid = (detail: string): Error => fsError('EINVAL', { syscall: SYSCALL, path: ref, detail });
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) throw invalid('a reference has no scheme: write host[:port]/name[:tag]; plain HTTP is chosen by the insecure option (loopback hosts need none)');

  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = parseDigest(rest.slice(at + 1), ref);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`'${tag}' is not a tag: a letter, digit or _, then up to 127 of letters, digits, _ . -`);
  }
  if (digest !== undefined) tag = undefined;

  const slash = rest.indexOf('/');
  const first = slash === -1 ? rest : rest.slice(0, slash);
  const hasRegistry = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  const registry = hasRegistry ? first : DOCKER_HUB;
  let repository = hasRegistry ? rest.slice(slash + 1) : rest;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;

  const host = REGISTRY.exec(registry);
  if (host === null || (host[2] !== undefined && !isIPv6(host[2])) || (host[3] !== undefined && Number(host[3]) > 65535)) {
    throw invalid(`'${registry}' is not a registry host[:port]`);
  }
  checkRepository(repository, ref);
  if (registry.length + 1 + repository.length > MAX_NAME) throw invalid(`the name is longer than ${MAX_NAME} characters`);

  const hostname = registry === DOCKER_HUB ? DOCKER_HUB_HOST : host[1] ?? host[2]!;
  const authority = registry === DOCKER_HUB ? DOCKER_HUB_HOST : registry;
  return { registry, hostname, authority, repository, tag: digest === undefined ? tag ?? DEFAULT_TAG : undefined, digest };
}

/**
 * Rejects with `EINVAL` (syscall `reference`, `path` = `what`) a repository name that is not one:
 * lowercase letters and digits, separated by `.`, `_`, `__` or runs of `-`, components joined by `/`.
 */
export function checkRepository(name: string, what: string = name): void {
  if (typeof name !== 'string') throw new TypeError('a repository name must be a string');
  if (name === '' || !name.split('/').every((part) => NAME_COMPONENT.test(part))) {
    throw fsError('EINVAL', { syscall: SYSCALL, path: what, detail: `'${name}' is not a repository name: lowercase letters and digits, separated by . _ __ or -, components joined by /` });
  }
}

/** `host[:port]/name:tag` or `…@digest`: the reference written out in full. */
export function formatReference(reference: Reference): string {
  const name = `${reference.registry}/${reference.repository}`;
  return reference.digest === undefined ? `${name}:${reference.tag ?? DEFAULT_TAG}` : `${name}@${reference.digest}`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True for `localhost` and for literal loopback addresses (127.0.0.0/8, `::1`, and 127/8 mapped
 * into IPv6): the hosts plain HTTP may reach without `insecure`. A name is not resolved: one that
 * happens to resolve to a loopback address is not trusted as one.
 */
export function isLoopback(hostname: string): boolean {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (bare.toLowerCase() === 'localhost') return true;
  if (isIPv4(bare)) return LOOPBACK.check(bare, 'ipv4');
  return isIPv6(bare) && LOOPBACK.check(bare, 'ipv6');
}
