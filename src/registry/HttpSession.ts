import { setTimeout as sleep } from 'node:timers/promises';
import { fsError, type CowstackError, type ErrorCode } from '../core/errors.js';
import { checkAborted } from '../image/oci/byteStream.js';
import { parseChallenges, type Challenge } from './challenge.js';
import { isLoopback, type Reference } from './Reference.js';
import type { RegistryOptions } from './RegistryOptions.js';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

export interface HttpRequest {
  readonly method: Method;
  /** A URL the registry gave (an upload location), or a path on it (`/v2/…`). */
  readonly url: string | URL;
  /** The token scopes the request needs (`repository:NAME:pull`, `repository:NAME:pull,push`). */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** The statuses that answer the request; any other is an error (see `HttpSession`). */
  readonly ok: readonly number[];
}

/** What a session has done on the wire: requests made, and body bytes sent and received. */
export interface Counters {
  requests: number;
  bytesSent: number;
  bytesReceived: number;
}

/** Redirects followed for one GET or HEAD, at most. */
const MAX_REDIRECTS = 5;
/** The error body read to word an error, at most. */
const MAX_ERROR_BODY = 64 * 1024;
/** Statuses worth asking again (idempotent requests only): the server or a proxy was briefly unable. */
const TRANSIENT: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Error codes (on an error or its causes) that mean the connection dropped. */
const RESET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ERR_STREAM_PREMATURE_CLOSE',
]);
const DEFAULT_RETRIES = 2;

/**
 * HTTP to one registry with `fetch`: the scheme rule, authentication, redirects, retries, and
 * the mapping of failures to cowstack's error codes. `RegistryClient` speaks the distribution
 * protocol over it.
 *
 * - Scheme: plain HTTP for loopback hosts and with `insecure`, HTTPS otherwise; every URL the
 *   server sends the client to (redirect, upload location, token realm) is checked by the same
 *   rule and refused with `EINVAL` when it would be plain HTTP to another host.
 * - Authentication, as docker does it: a `401` names a scheme in `WWW-Authenticate`. `Basic`:
 *   the credentials are sent from then on. `Bearer realm=…,service=…,scope=…`: a token is asked
 *   of the realm (`GET realm?service=…&scope=…`, with the credentials as Basic auth when there
 *   are some), kept per set of scopes, and sent as `Authorization: Bearer`. A `401` that persists
 *   with credentials sent, a refusing token service, and `403` are `EACCES`. Credentials and
 *   tokens go only to the registry's own origin (and the realm), never along a redirect elsewhere.
 * - Redirects of GET and HEAD are followed (at most 5), checked as said.
 * - Retries (`options.retries`, default 2), for GET and HEAD only: a dropped connection before
 *   the response, and 429, 502, 503, 504, after a short backoff.
 * - Errors: a status not in `request.ok` rejects with a code by status (400 `EINVAL`, or
 *   `EINTEGRITY` for the registry's `DIGEST_INVALID` and `SIZE_INVALID`; 401, 403 `EACCES`; 404
 *   `ENOENT`; 405 `EPERM`; others `EIO`), the registry's own error codes and messages in the
 *   message. A dropped connection, before or during a body, is `ECONNRESET`; a host that cannot
 *   be reached `EIO`; an aborted `signal` `ABORT_ERR`. `path` is the URL without its query.
 */
export class HttpSession {
  readonly counters: Counters = { requests: 0, bytesSent: 0, bytesReceived: 0 };
  readonly #base: URL;
  readonly #options: RegistryOptions;
  readonly #syscall: string;
  readonly #retries: number;
  /** The registry asked for Basic auth: credentials go with every request. */
  #basic = false;
  /** Bearer tokens by the scopes they were asked for. */
  readonly #tokens = new Map<string, string>();
  /** Tokens being asked for, by scopes: requests refused at once (in parallel) share one. */
  readonly #pending = new Map<string, Promise<string>>();

  constructor(reference: Reference, options: RegistryOptions, syscall: string) {
    const retries = options.retries ?? DEFAULT_RETRIES;
    if (!Number.isSafeInteger(retries) || retries < 0) throw new TypeError('retries must be a non-negative integer');
    const auth = options.auth;
    if (auth !== undefined && (typeof auth !== 'object' || auth === null || typeof auth.username !== 'string' || typeof auth.password !== 'string')) {
      throw new TypeError('auth must be { username: string, password: string }');
    }
    this.#options = options;
    this.#syscall = syscall;
    this.#retries = retries;
    const plain = options.insecure === true || isLoopback(reference.hostname);
    this.#base = new URL(`${plain ? 'http' : 'https'}://${reference.authority}/`);
  }

  get signal(): AbortSignal | undefined {
    return this.#options.signal;
  }

  get retries(): number {
    return this.#retries;
  }

  /** An absolute URL for `url` (a path on the registry, or a URL it sent), checked by the scheme rule. */
  resolve(url: string | URL, against: URL = this.#base): URL {
    const out = new URL(url, against);
    this.#checkScheme(out);
    return out;
  }

  /** Sends `request`; resolves to the response when its status is one of `request.ok`. */
  async send(request: HttpRequest): Promise<Response> {
    const idempotent = request.method === 'GET' || request.method === 'HEAD';
    let url = this.resolve(request.url);
    let attempt = 0;
    let redirects = 0;
    let authenticated = false;
    for (;;) {
      checkAborted(this.signal, this.#syscall, pathOf(url));
      const headers = new Headers(request.headers);
      const credential = url.origin === this.#base.origin ? this.#credential(request.scopes) : undefined;
      if (credential !== undefined) headers.set('authorization', credential.header);
      this.counters.requests++;
      this.counters.bytesSent += request.body?.length ?? 0;
      let response: Response;
      try {
        response = await fetch(url, { method: request.method, headers, body: request.body, redirect: 'manual', signal: this.signal });
      } catch (error) {
        const failure = this.networkError(error, url);
        if (failure.code === 'ECONNRESET' && idempotent && attempt < this.#retries) {
          await this.#backoff(attempt++);
          continue;
        }
        throw failure;
      }
      const { status } = response;
      const location = response.headers.get('location');
      if (idempotent && status >= 300 && status < 400 && location !== null) {
        await discard(response);
        if (++redirects > MAX_REDIRECTS) throw this.#error('EIO', url, `more than ${MAX_REDIRECTS} redirects`);
        url = this.resolve(location, url);
        continue;
      }
      if (status === 401) {
        const challenges = parseChallenges(response.headers.get('www-authenticate') ?? '');
        await discard(response);
        if (credential?.kind === 'basic' || authenticated) {
          throw this.#error('EACCES', url, credential?.kind === 'basic' ? 'the registry refused the credentials' : 'the registry refused the token it asked for');
        }
        await this.#authenticate(challenges, request.scopes, url);
        authenticated = true;
        continue;
      }
      if (TRANSIENT.has(status) && idempotent && attempt < this.#retries) {
        await discard(response);
        await this.#backoff(attempt++);
        continue;
      }
      if (request.ok.includes(status)) return response;
      throw await this.#statusError(response, url);
    }
  }

  /** The response's body, counted; a dropped connection is `ECONNRESET`. */
  async *stream(response: Response): AsyncGenerator<Uint8Array, void, undefined> {
    if (response.body === null) return;
    try {
      for await (const chunk of response.body) {
        this.counters.bytesReceived += chunk.length;
        yield chunk;
      }
    } catch (error) {
      throw this.networkError(error, new URL(response.url));
    }
  }

  /**
   * The body cut into pieces of `lengths` bytes, each a buffer of its own (a block freed alone,
   * not a slice pinning a whole range; and small buffers reuse the allocator's memory, where one
   * large buffer per response costs fresh pages). Resolves to the pieces and the bytes received:
   * fewer than asked when the body ends early (the last pieces are then not all filled); more is
   * `EINVAL`.
   */
  async readPieces(response: Response, lengths: readonly number[]): Promise<{ pieces: Buffer[]; received: number }> {
    const pieces = lengths.map((length) => Buffer.allocUnsafeSlow(length));
    const total = lengths.reduce((sum, length) => sum + length, 0);
    let received = 0;
    let piece = 0;
    let filled = 0;
    for await (const chunk of this.stream(response)) {
      if (received + chunk.length > total) throw this.#error('EINVAL', new URL(response.url), `the response is more than the ${total} bytes expected`);
      received += chunk.length;
      for (let at = 0; at < chunk.length; ) {
        const target = pieces[piece]!;
        const n = Math.min(target.length - filled, chunk.length - at);
        target.set(chunk.subarray(at, at + n), filled);
        at += n;
        filled += n;
        if (filled === target.length) {
          piece++;
          filled = 0;
        }
      }
    }
    return { pieces, received };
  }

  /** The whole body, at most `limit` bytes (more is `EINVAL`). */
  async read(response: Response, limit: number): Promise<Buffer> {
    const declared = Number(response.headers.get('content-length') ?? 0);
    const url = new URL(response.url);
    if (declared > limit) {
      await discard(response);
      throw this.#error('EINVAL', url, `the response is ${declared} bytes, more than the ${limit} expected at most`);
    }
    const parts: Uint8Array[] = [];
    let length = 0;
    for await (const chunk of this.stream(response)) {
      length += chunk.length;
      if (length > limit) throw this.#error('EINVAL', url, `the response is more than the ${limit} bytes expected at most`);
      parts.push(chunk);
    }
    return Buffer.concat(parts, length);
  }

  /** A failure of `fetch` or of reading a body, as one of cowstack's errors. */
  networkError(error: unknown, url: URL): CowstackError {
    if (this.signal?.aborted === true) return fsError('ABORT_ERR', { syscall: this.#syscall, path: pathOf(url), cause: this.signal.reason });
    const codes: string[] = [];
    for (let cause: unknown = error; typeof cause === 'object' && cause !== null; cause = (cause as { cause?: unknown }).cause) {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === 'string') codes.push(code);
    }
    const message = error instanceof Error ? error.message : String(error);
    if (codes.some((code) => RESET_CODES.has(code)) || message === 'terminated') {
      return this.#error('ECONNRESET', url, `the connection to ${url.host} dropped (${codes[0] ?? message})`, error);
    }
    return this.#error('EIO', url, `cannot reach ${url.host} (${codes[0] ?? message})`, error);
  }

  /** An error of this session's syscall about `url`. */
  #error(code: ErrorCode, url: URL, detail: string, cause?: unknown): CowstackError {
    return fsError(code, { syscall: this.#syscall, path: pathOf(url), detail, cause });
  }

  #checkScheme(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && (this.#options.insecure === true || isLoopback(url.hostname))) return;
    const detail = url.protocol === 'http:'
      ? `plain HTTP to ${url.host} refused: without TLS only loopback hosts are reached, unless insecure is set`
      : `the registry sent the client to a ${url.protocol} URL`;
    throw fsError('EINVAL', { syscall: this.#syscall, path: pathOf(url), detail });
  }

  #credential(scopes: readonly string[]): { kind: 'basic' | 'bearer'; header: string } | undefined {
    const token = this.#tokens.get(scopeKey(scopes));
    if (token !== undefined) return { kind: 'bearer', header: `Bearer ${token}` };
    const auth = this.#options.auth;
    if (this.#basic && auth !== undefined) return { kind: 'basic', header: basicAuth(auth.username, auth.password) };
    return undefined;
  }

  async #authenticate(challenges: readonly Challenge[], scopes: readonly string[], url: URL): Promise<void> {
    const bearer = challenges.find((challenge) => challenge.scheme === 'bearer' && challenge.params.realm !== undefined);
    if (bearer !== undefined) {
      const key = scopeKey(scopes);
      let pending = this.#pending.get(key);
      if (pending === undefined) {
        pending = this.#token(bearer, scopes).finally(() => this.#pending.delete(key));
        this.#pending.set(key, pending);
      }
      this.#tokens.set(key, await pending);
      return;
    }
    if (challenges.some((challenge) => challenge.scheme === 'basic')) {
      if (this.#options.auth === undefined) throw this.#error('EACCES', url, 'the registry asks for credentials (Basic auth): give auth');
      this.#basic = true;
      return;
    }
    throw this.#error('EACCES', url, 'the registry refused the request (401) and asks for no auth scheme cowstack speaks (Basic, Bearer)');
  }

  /** A bearer token for `scopes` (and the challenge's own) from the challenge's realm. */
  async #token(challenge: Challenge, scopes: readonly string[]): Promise<string> {
    const url = this.resolve(challenge.params.realm!);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    const asked = new Set([...scopes, ...(challenge.params.scope ?? '').split(' ').filter((scope) => scope !== '')]);
    for (const scope of asked) url.searchParams.append('scope', scope);
    const auth = this.#options.auth;
    const headers = auth === undefined ? undefined : { authorization: basicAuth(auth.username, auth.password) };
    this.counters.requests++;
    let response: Response;
    try {
      response = await fetch(url, { headers, redirect: 'error', signal: this.signal });
    } catch (error) {
      throw this.networkError(error, url);
    }
    if (response.status === 401 || response.status === 403) {
      await discard(response);
      throw this.#error('EACCES', url, auth === undefined ? 'the token service wants credentials: give auth' : 'the token service refused the credentials');
    }
    if (response.status !== 200) throw await this.#statusError(response, url);
    const body = await this.read(response, MAX_ERROR_BODY);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (cause) {
      throw this.#error('EIO', url, 'the token service answered with no JSON', cause);
    }
    const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { token?: unknown; access_token?: unknown };
    const token = typeof fields.token === 'string' && fields.token !== '' ? fields.token : fields.access_token;
    if (typeof token !== 'string' || token === '') throw this.#error('EIO', url, 'the token service answered without a token');
    return token;
  }

  async #statusError(response: Response, url: URL): Promise<CowstackError> {
    let errors: Array<{ code?: unknown; message?: unknown }> = [];
    try {
      const body = JSON.parse((await this.read(response, MAX_ERROR_BODY)).toString('utf8')) as { errors?: unknown };
      if (Array.isArray(body.errors)) errors = body.errors as typeof errors;
    } catch {
      await discard(response);
    }
    const said = errors.map((error) => [error.code, error.message].filter((part) => typeof part === 'string').join(' ')).filter((text) => text !== '');
    const detail = `HTTP ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}${said.length === 0 ? '' : `: ${said.join('; ')}`}`;
    const registryCodes = errors.map((error) => error.code);
    return this.#error(statusCode(response.status, registryCodes), url, detail);
  }

  async #backoff(attempt: number): Promise<void> {
    try {
      await sleep(100 * 2 ** attempt, undefined, { signal: this.signal });
    } catch (cause) {
      throw fsError('ABORT_ERR', { syscall: this.#syscall, cause });
    }
  }
}

function statusCode(status: number, registryCodes: readonly unknown[]): ErrorCode {
  switch (status) {
    case 400:
      return registryCodes.includes('DIGEST_INVALID') || registryCodes.includes('SIZE_INVALID') ? 'EINTEGRITY' : 'EINVAL';
    case 401: case 403:
      return 'EACCES';
    case 404:
      return 'ENOENT';
    case 405:
      return 'EPERM';
    default:
      return 'EIO';
  }
}

function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

/** A URL as errors name it: without the query (upload state, tokens). */
function pathOf(url: URL): string {
  return `${url.host}${url.pathname}`;
}

/** Drops a response's body unread, so the connection can be reused. */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}
