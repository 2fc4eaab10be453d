import { createHash } from 'node:crypto';
import { fsError, hasCode } from '../core/errors.js';
import { checkDigest, digestOf, isDigest, type Digest } from '../image/digest.js';
import { MEDIA_TYPES } from '../image/oci/documents.js';
import { MAX_JSON_BYTES } from '../image/oci/limits.js';
import { discard, HttpSession, type Counters } from './HttpSession.js';
import type { Reference } from './Reference.js';
import type { RegistryOptions } from './RegistryOptions.js';

/** A blob as a descriptor names it: what its bytes must hash to, and how many there are. */
export interface BlobRef {
  readonly digest: Digest;
  readonly size: number;
}

/** Where an upload reads a blob's bytes from: any range, any number of times (an upload may start over). */
export interface UploadSource {
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface UploadOptions {
  /** A repository of the same registry to mount the blob from, when it has it. */
  readonly mountFrom?: string | undefined;
  /** Blobs above this many bytes go in chunks of this size. */
  readonly chunkSize: number;
  /** Called with the byte count of each body sent. */
  readonly onSent?: (bytes: number) => void;
}

/** A manifest or index as fetched: its bytes (checked against `digest`) and what it says it is. */
export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
}

/** The media types of manifests, in the order a `GET` asks for them. */
const MANIFEST_MEDIA_TYPES: readonly string[] = Object.freeze([
  MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList,
]);

/**
 * The OCI distribution protocol (distribution-spec `spec.md`) on one repository of one registry:
 * blobs (existence, download verified and resumed, ranges, monolithic and chunked uploads,
 * cross-repository mounts), manifests and tags. `HttpSession` does the HTTP, auth and error codes;
 * `access` is what the session's tokens ask for: `pull`, or `pull,push` to push.
 *
 * Every byte fetched is checked before it is handed on as whole: a manifest against the digest it
 * was asked by (and the registry's `Docker-Content-Digest`), a blob against its descriptor's
 * digest and size (`BlobReader`), a range against the block id it was asked for (the caller's).
 * A mismatch is `EINTEGRITY`.
 */
export class RegistryClient {
  readonly #session: HttpSession;
  readonly #repository: string;
  readonly #scopes: readonly string[];
  readonly #syscall: string;

  constructor(reference: Reference, options: RegistryOptions, syscall: string, access: 'pull' | 'pull,push') {
    this.#session = new HttpSession(reference, options, syscall);
    this.#repository = reference.repository;
    this.#scopes = [`repository:${reference.repository}:${access}`];
    this.#syscall = syscall;
  }

  get counters(): Readonly<Counters> {
    return this.#session.counters;
  }

  /** True when the repository has the blob (`HEAD`). */
  async hasBlob(blob: BlobRef): Promise<boolean> {
    const response = await this.#session.send({ method: 'HEAD', url: this.#blobPath(blob.digest), scopes: this.#scopes, ok: [200, 404] });
    await discard(response);
    return response.status === 200;
  }

  /** The blob's bytes as a stream checked against `blob`, resumed after a dropped connection. */
  openBlob(blob: BlobRef): BlobReader {
    return new BlobReader(this.#session, this.#session.resolve(this.#blobPath(blob.digest)), blob, this.#scopes, this.#syscall);
  }

  /** A small blob (a config, a document) whole, checked; more than `limit` bytes is `EINVAL`. */
  async readBlob(blob: BlobRef, limit = MAX_JSON_BYTES): Promise<Buffer> {
    if (blob.size > limit) throw fsError('EINVAL', { syscall: this.#syscall, path: blob.digest, detail: `a document of ${blob.size} bytes is larger than ${limit}` });
    const reader = this.openBlob(blob);
    const parts: Uint8Array[] = [];
    for await (const chunk of reader) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /**
   * Bytes `[start, start + sum(lengths))` of a blob (`Range: bytes=a-b`, answered `206`), cut into
   * pieces of `lengths` bytes (the blocks of a run), each its own buffer. Not checked here: a
   * range is checked by what it holds (a block against its id). A registry that ignores `Range`
   * (answers 200) is `EIO`; a body cut short is fetched again, `retries` times, then `ECONNRESET`.
   */
  async readRange(digest: Digest, start: number, lengths: readonly number[]): Promise<Buffer[]> {
    const length = lengths.reduce((sum, piece) => sum + piece, 0);
    if (!Number.isSafeInteger(start) || start < 0 || length <= 0 || !lengths.every((piece) => Number.isSafeInteger(piece) && piece > 0)) {
      throw new TypeError('a range needs start >= 0 and pieces of length > 0');
    }
    const last = start + length - 1;
    for (let attempt = 0; ; attempt++) {
      const response = await this.#session.send({
        method: 'GET', url: this.#blobPath(digest), scopes: this.#scopes, headers: { range: `bytes=${start}-${last}` }, ok: [200, 206],
      });
      const url = new URL(response.url);
      if (response.status !== 206 || response.headers.get('content-range')?.startsWith(`bytes ${start}-${last}/`) !== true) {
        await discard(response);
        throw fsError('EIO', { syscall: this.#syscall, path: `${url.host}${url.pathname}`, detail: `the registry did not serve bytes ${start}-${last} (HTTP ${response.status}, Content-Range ${response.headers.get('content-range') ?? 'none'})` });
      }
      try {
        const { pieces, received } = await this.#session.readPieces(response, lengths);
        if (received === length) return pieces;
        if (attempt >= this.#session.retries) throw fsError('ECONNRESET', { syscall: this.#syscall, path: digest, detail: `the range ended after ${received} of ${length} bytes` });
      } catch (error) {
        if (!hasCode(error, 'ECONNRESET') || attempt >= this.#session.retries) throw error;
      }
    }
  }

  /**
   * Puts a blob into the repository unless it is mounted from `mountFrom`: `'mounted'` or
   * `'sent'`. Up to `chunkSize` bytes in one `PUT ?digest=`; more in `PATCH` chunks of
   * `chunkSize` then a `PUT ?digest=`. A dropped connection starts the upload over (a registry
   * cannot be trusted to resume a chunk it received part of), `retries` times at most. The
   * registry checks the digest (`EINTEGRITY` when the bytes do not match it).
   */
  async uploadBlob(blob: BlobRef, source: UploadSource, options: UploadOptions): Promise<'mounted' | 'sent'> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#upload(blob, source, options);
      } catch (error) {
        if (!hasCode(error, 'ECONNRESET') || attempt >= this.#session.retries) throw error;
      }
    }
  }

  /** The manifest (or index) `reference` (a tag or a digest) names, checked against its digest. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const response = await this.#session.send({
      method: 'GET', url: `/v2/${this.#repository}/manifests/${reference}`, scopes: this.#scopes,
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') }, ok: [200],
    });
    const declared = response.headers.get('docker-content-digest');
    const contentType = response.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
    const bytes = await this.#session.read(response, MAX_JSON_BYTES);
    const digest = digestOf(bytes);
    const what = `${this.#repository}:${reference}`;
    if (isDigest(reference)) checkDigest(digest, reference, what);
    if (isDigest(declared)) checkDigest(digest, declared, what);
    return { bytes, digest, mediaType: MANIFEST_MEDIA_TYPES.includes(contentType) ? contentType : mediaTypeIn(bytes) };
  }

  /**
   * Puts a manifest (or index) under `reference` (a tag, or its own digest). Resolves to its
   * digest and whether the registry processed its `subject` (an `OCI-Subject` header: it keeps
   * the referrers list itself).
   */
  async putManifest(reference: string, mediaType: string, bytes: Uint8Array): Promise<{ digest: Digest; subjectKept: boolean }> {
    const digest = digestOf(bytes);
    const response = await this.#session.send({
      method: 'PUT', url: `/v2/${this.#repository}/manifests/${reference}`, scopes: this.#scopes,
      headers: { 'content-type': mediaType }, body: bytes, ok: [201],
    });
    await discard(response);
    const declared = response.headers.get('docker-content-digest');
    if (isDigest(declared)) checkDigest(declared, digest, `${this.#repository}:${reference}`);
    return { digest, subjectKept: response.headers.has('oci-subject') };
  }

  /**
   * The referrers of manifest `digest` of type `artifactType` (distribution-spec 1.1, `GET
   * /v2/<name>/referrers/<digest>`) as the index's raw JSON; `undefined` when the registry has no
   * referrers API (it answers 404), and callers fall back to the `sha256-<hex>` tag.
   */
  async getReferrers(digest: Digest, artifactType: string): Promise<Buffer | undefined> {
    const url = this.#session.resolve(`/v2/${this.#repository}/referrers/${digest}`);
    url.searchParams.set('artifactType', artifactType);
    const response = await this.#session.send({ method: 'GET', url, scopes: this.#scopes, ok: [200, 404] });
    if (response.status === 404) {
      await discard(response);
      return undefined;
    }
    return this.#session.read(response, MAX_JSON_BYTES);
  }

  #blobPath(digest: Digest): string {
    return `/v2/${this.#repository}/blobs/${digest}`;
  }

  async #upload(blob: BlobRef, source: UploadSource, options: UploadOptions): Promise<'mounted' | 'sent'> {
    const { mountFrom, chunkSize } = options;
    const scopes = mountFrom === undefined ? this.#scopes : [...this.#scopes, `repository:${mountFrom}:pull`];
    const start = this.#session.resolve(`/v2/${this.#repository}/blobs/uploads/`);
    if (mountFrom !== undefined) {
      start.searchParams.set('mount', blob.digest);
      start.searchParams.set('from', mountFrom);
    }
    const begun = await this.#session.send({ method: 'POST', url: start, scopes, ok: [201, 202] });
    await discard(begun);
    if (begun.status === 201) return 'mounted';
    let location = this.#location(begun);
    const octets = { 'content-type': 'application/octet-stream' };
    let last: Response;
    if (blob.size <= chunkSize) {
      const body = await source.read(0, blob.size);
      last = await this.#session.send({ method: 'PUT', url: withDigest(location, blob.digest), scopes, headers: octets, body, ok: [201] });
      options.onSent?.(body.length);
    } else {
      for (let offset = 0; offset < blob.size; ) {
        const body = await source.read(offset, Math.min(chunkSize, blob.size - offset));
        const range = `${offset}-${offset + body.length - 1}`;
        const patched = await this.#session.send({ method: 'PATCH', url: location, scopes, headers: { ...octets, 'content-range': range }, body, ok: [202] });
        await discard(patched);
        location = this.#location(patched);
        offset += body.length;
        options.onSent?.(body.length);
      }
      last = await this.#session.send({ method: 'PUT', url: withDigest(location, blob.digest), scopes, ok: [201] });
    }
    await discard(last);
    const declared = last.headers.get('docker-content-digest');
    if (isDigest(declared)) checkDigest(declared, blob.digest, blob.digest);
    return 'sent';
  }

  /** The upload location a response names, resolved against its URL and checked. */
  #location(response: Response): URL {
    const location = response.headers.get('location');
    if (location === null) throw fsError('EIO', { syscall: this.#syscall, path: this.#repository, detail: `the registry answered ${response.status} to an upload without a Location` });
    return this.#session.resolve(location, new URL(response.url));
  }
}

function withDigest(location: URL, digest: Digest): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

/** The media type a manifest states, or its shape implies (`manifests`: an index), when the response did not say. */
function mediaTypeIn(bytes: Uint8Array): string {
  try {
    const document = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof document.mediaType === 'string') return document.mediaType;
    return Array.isArray(document.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
  } catch {
    return '';
  }
}

/**
 * A blob's bytes, checked against its descriptor: more bytes than its size, or (at the end) a
 * different size or digest, is `EINTEGRITY`, thrown before the stream ends, so whatever reads it
 * never sees a wrong blob end normally. A dropped connection resumes with `Range: bytes=N-` (a
 * registry that answers 200 instead has the bytes already read skipped), `retries` times.
 *
 * A consumer that stops early (a decoder that failed on bad bytes) can ask `matches()`: it reads
 * the rest and says whether the blob was what its digest says, so a damaged blob is reported as
 * `EINTEGRITY`, not as the decoder's error. `close()` drops the connection.
 */
export class BlobReader implements AsyncIterable<Uint8Array> {
  readonly #session: HttpSession;
  readonly #url: URL;
  readonly #blob: BlobRef;
  readonly #scopes: readonly string[];
  readonly #syscall: string;
  readonly #hash = createHash('sha256');
  #received = 0;
  #source: AsyncGenerator<Uint8Array, void, undefined> | undefined;
  #ended = false;

  constructor(session: HttpSession, url: URL, blob: BlobRef, scopes: readonly string[], syscall: string) {
    this.#session = session;
    this.#url = url;
    this.#blob = blob;
    this.#scopes = scopes;
    this.#syscall = syscall;
  }

  /** The blob's size, as its descriptor says. */
  get size(): number {
    return this.#blob.size;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (let chunk = await this.#next(); chunk !== undefined; chunk = await this.#next()) yield chunk;
  }

  /** Reads what is left; true when the whole blob matches its digest and size. */
  async matches(): Promise<boolean> {
    try {
      while ((await this.#next()) !== undefined);
      return true;
    } catch (error) {
      if (hasCode(error, 'EINTEGRITY')) return false;
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#source?.return();
  }

  async #next(): Promise<Uint8Array | undefined> {
    if (this.#ended) return undefined;
    this.#source ??= this.#chunks();
    const result = await this.#source.next();
    if (result.done !== true) {
      this.#received += result.value.length;
      if (this.#received > this.#blob.size) throw this.#mismatch(`more than the ${this.#blob.size} bytes its descriptor says`);
      this.#hash.update(result.value);
      return result.value;
    }
    this.#ended = true;
    if (this.#received !== this.#blob.size) throw this.#mismatch(`${this.#received} bytes, expected ${this.#blob.size}`);
    checkDigest(`sha256:${this.#hash.digest('hex')}` as Digest, this.#blob.digest, this.#blob.digest);
    return undefined;
  }

  #mismatch(detail: string): Error {
    this.#ended = true;
    return fsError('EINTEGRITY', { syscall: 'digest', path: this.#blob.digest, detail: `blob is ${detail}` });
  }

  /** The body, fetched again from where it stopped after a dropped connection. */
  async *#chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    for (let attempt = 0; ; attempt++) {
      const offset = this.#received;
      const response = await this.#session.send({
        method: 'GET', url: this.#url, scopes: this.#scopes, headers: offset === 0 ? undefined : { range: `bytes=${offset}-` }, ok: [200, 206],
      });
      let skip = 0;
      if (offset > 0 && (response.status !== 206 || response.headers.get('content-range')?.startsWith(`bytes ${offset}-`) !== true)) {
        if (response.status === 206) {
          await discard(response);
          throw fsError('EIO', { syscall: this.#syscall, path: this.#blob.digest, detail: `asked for bytes ${offset}-, the registry sent ${response.headers.get('content-range') ?? 'no Content-Range'}` });
        }
        skip = offset;
      }
      try {
        for await (const chunk of this.#session.stream(response)) {
          if (skip >= chunk.length) {
            skip -= chunk.length;
            continue;
          }
          yield skip === 0 ? chunk : chunk.subarray(skip);
          skip = 0;
        }
        return; // a body that ends whole is the blob as the registry has it: `#next` judges its length
      } catch (error) {
        if (!hasCode(error, 'ECONNRESET') || attempt >= this.#session.retries) throw error;
      }
    }
  }
}
