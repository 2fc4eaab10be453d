/**
 * A real registry for the tests: Debian's `docker-registry` (CNCF distribution 2.8) on a free
 * loopback port with a temporary storage directory, optionally behind htpasswd or token auth;
 * and a loopback proxy, written here, that counts what passes and can cut a connection mid-body.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';
export const hasRegistry = existsSync(REGISTRY_BINARY);
export const skipReason = hasRegistry ? '' : ` (skipped: ${REGISTRY_BINARY} is missing; apt-get install docker-registry)`;

export const hasTool = (name: string, args: string[] = ['--version']): boolean => spawnSync(name, args, { stdio: 'ignore' }).status === 0;

export interface Registry {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly port: number;
  /** The storage root directory (`docker/registry/v2/…` below it). */
  readonly storage: string;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  /** `htpasswd`: a bcrypt file the registry reads (made with `htpasswd -Bbn`). */
  htpasswd?: { username: string; password: string };
  /** `token`: the registry trusts tokens signed by `certificate`, handed out by `realm`. */
  token?: { realm: string; service: string; issuer: string; certificate: string };
}

/** A free loopback port (the kernel's choice; closed again before the caller binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts a registry and waits until `/v2/` answers; again on another port if the one chosen was taken meanwhile. */
export async function startRegistry(auth: RegistryAuth = {}): Promise<Registry> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRegistryOnce(auth);
    } catch (error) {
      if (attempt === 3 || !String((error as Error).message).includes('address already in use')) throw error;
    }
  }
}

async function startRegistryOnce(auth: RegistryAuth): Promise<Registry> {
  const root = await mkdtemp(join(tmpdir(), 'cowstack-registry-'));
  const storage = join(root, 'storage');
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  if (auth.htpasswd !== undefined) {
    const made = spawnSync('htpasswd', ['-Bbn', auth.htpasswd.username, auth.htpasswd.password], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`htpasswd failed: ${made.stderr}`);
    await writeFile(join(root, 'htpasswd'), made.stdout);
    lines.push('auth:', '  htpasswd:', '    realm: cowstack-test', `    path: ${join(root, 'htpasswd')}`);
  }
  if (auth.token !== undefined) {
    await writeFile(join(root, 'token.pem'), auth.token.certificate);
    lines.push('auth:', '  token:', `    realm: ${auth.token.realm}`, `    service: ${auth.token.service}`, `    issuer: ${auth.token.issuer}`, `    rootcertbundle: ${join(root, 'token.pem')}`);
  }
  const config = join(root, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);
  const child = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(root, { recursive: true, force: true });
  };
  for (let waited = 0; ; waited += 50) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited at start: ${log}`);
    }
    try {
      await fetch(`http://127.0.0.1:${port}/v2/`);
      break;
    } catch {
      if (waited > 15_000) {
        await stop();
        throw new Error(`docker-registry did not answer on port ${port}: ${log}`);
      }
      await sleep(50);
    }
  }
  return { host: `127.0.0.1:${port}`, port, storage, stop };
}

/** The file holding blob `digest` in a registry's storage. */
export function blobFile(registry: Registry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(registry.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** Every blob digest the registry's storage holds. */
export async function storedBlobs(registry: Registry): Promise<string[]> {
  const dir = join(registry.storage, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const prefix of await readdir(dir)) for (const hex of await readdir(join(dir, prefix))) out.push(`sha256:${hex}`);
  return out.sort();
}

export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  /** The `Range` header, when the request had one. */
  readonly range: string | undefined;
  /** Request body bytes the proxy forwarded. */
  bytesIn: number;
  /** Response body bytes the proxy forwarded. */
  bytesOut: number;
  status?: number;
}

/** A rule to cut a connection: after `after` response bytes of the next request it matches. */
export interface Cut {
  readonly match: (method: string, url: string) => boolean;
  readonly after: number;
  /** Cut the request body instead, after `after` bytes of it (an upload). */
  readonly upload?: boolean;
}

export interface Proxy {
  readonly host: string;
  readonly requests: ProxiedRequest[];
  /** Cuts the next matching request (once per call). */
  cut(rule: Cut): void;
  stop(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of `target` (`127.0.0.1:PORT`): it forwards each request as it
 * came (Host header included, so the registry's upload locations name the proxy), records
 * method, URL and body bytes both ways, and, when a `cut` rule matches, destroys the client's
 * connection after so many bytes: a dropped connection mid-blob.
 */
export async function startProxy(target: string): Promise<Proxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const requests: ProxiedRequest[] = [];
  const cuts: Cut[] = [];
  const takeCut = (method: string, url: string, upload: boolean): Cut | undefined => {
    const i = cuts.findIndex((rule) => (rule.upload === true) === upload && rule.match(method, url));
    return i === -1 ? undefined : cuts.splice(i, 1)[0];
  };
  const server: Server = createServer((incoming: IncomingMessage, outgoing) => {
    const record: ProxiedRequest = { method: incoming.method!, url: incoming.url!, range: incoming.headers.range, bytesIn: 0, bytesOut: 0 };
    requests.push(record);
    const uploadCut = takeCut(record.method, record.url, true);
    const downloadCut = takeCut(record.method, record.url, false);
    const upstream = httpRequest({ host: targetHost, port: Number(targetPort), method: incoming.method, path: incoming.url, headers: incoming.headers }, (response) => {
      record.status = response.statusCode;
      outgoing.writeHead(response.statusCode!, response.statusMessage, response.headers);
      response.on('data', (chunk: Buffer) => {
        if (downloadCut !== undefined && record.bytesOut + chunk.length > downloadCut.after) {
          const part = chunk.subarray(0, Math.max(0, downloadCut.after - record.bytesOut));
          record.bytesOut += part.length;
          outgoing.write(part, () => incoming.socket.destroy());
          response.destroy();
          return;
        }
        record.bytesOut += chunk.length;
        outgoing.write(chunk);
      });
      response.on('end', () => outgoing.end());
    });
    upstream.on('error', () => incoming.socket.destroy());
    incoming.on('data', (chunk: Buffer) => {
      if (uploadCut !== undefined && record.bytesIn + chunk.length > uploadCut.after) {
        upstream.destroy();
        incoming.socket.destroy();
        return;
      }
      record.bytesIn += chunk.length;
      upstream.write(chunk);
    });
    incoming.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    requests,
    cut: (rule) => cuts.push(rule),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
