import { execFileSync } from 'node:child_process';
import { createPrivateKey, createSign, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/index.js';
import { pull } from '../../src/registry/pull.js';
import { push } from '../../src/registry/push.js';
import { dumpLayer, keys, openMemoryStore } from '../image/kit.js';
import { hasRegistry, hasTool, skipReason, startRegistry, type Registry } from './harness.js';

const hasHtpasswd = hasTool('htpasswd', ['-nbB', 'u', 'p']);
const hasOpenssl = hasTool('openssl', ['version']);
const USER = { username: 'alice', password: 'correct horse' };

async function smallImage(): Promise<Store> {
  const store = await openMemoryStore();
  const layer = await store.prepare('w');
  await layer.writeFile('/secret', 'only for alice\n');
  await store.commit('image', 'w');
  return store;
}

describe.skipIf(!hasRegistry || !hasHtpasswd)(`Basic auth (htpasswd)${hasRegistry ? (hasHtpasswd ? '' : ' (skipped: htpasswd from apache2-utils is missing)') : skipReason}`, () => {
  let registry: Registry;
  let store: Store;

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: USER });
    store = await smallImage();
  });
  afterAll(async () => {
    await store.close();
    await registry.stop();
  });

  it('refuses without credentials or with wrong ones (EACCES), and works with them', async () => {
    const ref = `${registry.host}/private/image:v1`;
    await expect(push(store, 'image', ref)).rejects.toMatchObject({ code: 'EACCES', syscall: 'push', message: expect.stringContaining('give auth') });
    await expect(push(store, 'image', ref, { auth: { username: 'alice', password: 'wrong' } })).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('refused the credentials') });
    const result = await push(store, 'image', ref, { auth: USER });
    expect(result.blobsSkipped).toBe(0);

    const fresh = await openMemoryStore();
    await expect(pull(fresh, ref)).rejects.toMatchObject({ code: 'EACCES', syscall: 'pull' });
    expect(await keys(fresh)).toEqual([]);
    const info = await pull(fresh, ref, { auth: USER });
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await store.mount('image')));
    await fresh.close();
  });

  it('fetches a lazily pulled image\'s blocks with the pull\'s credentials, and after reopening with registryAuth only', async () => {
    const ref = `${registry.host}/private/lazy:v1`;
    await push(store, 'image', ref, { auth: USER, lazy: true });
    const dir = await mkdtemp(join(tmpdir(), 'cowstack-auth-lazy-'));
    try {
      let disk = await openStore({ dir, blockSize: 4096, workers: 0 });
      await expect(disk.pull(ref, { lazy: true })).rejects.toMatchObject({ code: 'EACCES' });
      const info = await disk.pull(ref, { lazy: true, auth: USER });
      expect((await disk.stats()).blocks).toBe(0);
      await disk.close();

      disk = await openStore({ dir, workers: 0 });
      await expect((await disk.mount(info.key)).readFile('/secret', 'utf8')).rejects.toMatchObject({ code: 'EACCES' });
      await disk.close();
      expect(await readFile(join(dir, 'sources'), 'latin1')).not.toContain(USER.password);

      disk = await openStore({ dir, workers: 0, registryAuth: USER });
      expect(await (await disk.mount(info.key)).readFile('/secret', 'utf8')).toBe('only for alice\n');
      await disk.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A token service as distribution's `auth: token` expects one: RS256 JWTs whose `x5c` is a certificate the registry trusts. */
class TokenService {
  readonly requests: Array<{ scopes: string[]; user: string | undefined }> = [];
  readonly #server: Server;
  readonly #key: string;
  readonly #certificate: string;
  #realm = '';

  constructor(key: string, certificate: string) {
    this.#key = key;
    this.#certificate = certificate;
    this.#server = createServer((request, response) => {
      const url = new URL(request.url!, 'http://token');
      const scopes = url.searchParams.getAll('scope');
      const user = this.#user(request);
      this.requests.push({ scopes, user });
      if (user !== USER.username) {
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      const access = scopes.map((scope) => {
        const [type, ...rest] = scope.split(':');
        const actions = rest.pop()!.split(',');
        return { type, name: rest.join(':'), actions };
      });
      const token = this.#sign({ iss: 'cowstack-test-issuer', sub: user, aud: url.searchParams.get('service'), access });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
    });
  }

  get realm(): string {
    return this.#realm;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#realm = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/token`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #user(request: IncomingMessage): string | undefined {
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Basic ')) return undefined;
    const [user, password] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(/:(.*)/s);
    return password === USER.password ? user : undefined;
  }

  #sign(claims: Record<string, unknown>): string {
    const der = new X509Certificate(this.#certificate).raw.toString('base64');
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const body = `${encode({ typ: 'JWT', alg: 'RS256', x5c: [der] })}.${encode({ ...claims, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID() })}`;
    const signature = createSign('RSA-SHA256').update(body).sign(createPrivateKey(this.#key)).toString('base64url');
    return `${body}.${signature}`;
  }
}

describe.skipIf(!hasRegistry || !hasOpenssl)(`bearer tokens (distribution's token auth)${hasRegistry ? (hasOpenssl ? '' : ' (skipped: openssl is missing to make the signing certificate)') : skipReason}`, () => {
  let registry: Registry;
  let tokens: TokenService;
  let store: Store;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cowstack-token-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=cowstack-test-token'], { stdio: 'ignore' });
    const certificate = await readFile(join(dir, 'cert.pem'), 'utf8');
    tokens = new TokenService(await readFile(join(dir, 'key.pem'), 'utf8'), certificate);
    await tokens.start();
    registry = await startRegistry({ token: { realm: tokens.realm, service: 'cowstack-test', issuer: 'cowstack-test-issuer', certificate } });
    store = await smallImage();
  });
  afterAll(async () => {
    await store.close();
    await registry.stop();
    await tokens.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('asks the realm for a token with the scopes the operation needs, and is refused without credentials', async () => {
    const ref = `${registry.host}/tokens/image:v1`;
    await expect(push(store, 'image', ref)).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('token service wants credentials') });
    tokens.requests.length = 0;
    await push(store, 'image', ref, { auth: USER });
    expect(tokens.requests.every((request) => request.user === 'alice' && request.scopes.includes('repository:tokens/image:pull,push'))).toBe(true);
    expect(tokens.requests).toHaveLength(1); // one token serves the whole push, its parallel HEADs included

    const fresh = await openMemoryStore();
    await expect(pull(fresh, ref, { auth: { username: 'alice', password: 'nope' } })).rejects.toMatchObject({ code: 'EACCES', message: expect.stringContaining('refused the credentials') });
    tokens.requests.length = 0;
    const info = await pull(fresh, ref, { auth: USER });
    expect(tokens.requests.map((request) => request.scopes)).toEqual([['repository:tokens/image:pull']]);
    expect(await dumpLayer(await fresh.mount(info.key))).toEqual(await dumpLayer(await store.mount('image')));

    // A mount from another repository asks for pull on it too.
    tokens.requests.length = 0;
    const mounted = await push(store, 'image', `${registry.host}/tokens/copy:v1`, { auth: USER, mountFrom: 'tokens/image' });
    expect(mounted.blobsSkipped).toBe(2);
    expect(tokens.requests.some((request) => request.scopes.includes('repository:tokens/image:pull'))).toBe(true);
    await fresh.close();
  });
});
