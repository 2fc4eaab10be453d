/**
 * A real registry for the tests: Debian's `docker-registry` (CNCF distribution 2.8) on a free
 * loopback port with a temporary storage directory, optionally behind htpasswd or token auth;
 * and a loopback proxy that counts what passes and can cut a connection mid-body. The registry
 * starter and the proxy live in bench/harness/ (the lazy-pull benchmark uses them too); the
 * auth configuration and the storage helpers are the tests' own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { registryUnavailable, startRegistry as startBareRegistry, type Registry } from '../../src/cli/localRegistry.js';

export type { Registry } from '../../src/cli/localRegistry.js';
export { startProxy, type Cut, type ProxiedRequest, type Proxy } from '../../bench/harness/proxy.js';

const unavailable = registryUnavailable();
export const hasRegistry = unavailable === undefined;
export const skipReason = hasRegistry ? '' : ` (skipped: ${unavailable})`;

export const hasTool = (name: string, args: string[] = ['--version']): boolean => spawnSync(name, args, { stdio: 'ignore' }).status === 0;

export interface RegistryAuth {
  /** `htpasswd`: a bcrypt file the registry reads (made with `htpasswd -Bbn`). */
  htpasswd?: { username: string; password: string };
  /** `token`: the registry trusts tokens signed by `certificate`, handed out by `realm`. */
  token?: { realm: string; service: string; issuer: string; certificate: string };
}

/** Starts a registry (src/cli/localRegistry.ts) behind `auth`, and waits until `/v2/` answers. */
export function startRegistry(auth: RegistryAuth = {}): Promise<Registry> {
  return startBareRegistry({ configure: (root) => authConfig(root, auth) });
}

/** Writes the files `auth` needs into `root`; resolves to its lines of the registry's `config.yml`. */
async function authConfig(root: string, auth: RegistryAuth): Promise<string[]> {
  const lines: string[] = [];
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
  return lines;
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
