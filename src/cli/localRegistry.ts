/**
 * A real registry on loopback, for the demo's lazy pull, the lazy-pull bench scenario and the
 * registry tests (test/registry/harness.ts builds its authenticated registries on this): Debian's
 * `docker-registry` (CNCF distribution 2.8) on a free loopback port with a temporary storage
 * directory, no auth unless `configure` adds it, stopped with `stop()`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** Why no registry can be started here (`apt-get install docker-registry`), or undefined when one can. */
export function registryUnavailable(binary = REGISTRY_BINARY): string | undefined {
  return existsSync(binary) ? undefined : `${binary} is missing; apt-get install docker-registry`;
}

export interface Registry {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly port: number;
  /** The storage root directory (`docker/registry/v2/…` below it). */
  readonly storage: string;
  /** Stops the registry and removes its directory; resolves once it has exited. */
  stop(): Promise<void>;
}

export interface RegistrySetup {
  /** Where the registry's directory (config, storage) is made: the OS temp dir by default. */
  readonly tmp?: string;
  /** The registry program: `REGISTRY_BINARY` unless given. */
  readonly binary?: string;
  /** Writes what extra configuration needs into `root` (an htpasswd file, a certificate) and resolves to its lines of `config.yml`. */
  readonly configure?: (root: string) => Promise<string[]>;
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
export async function startRegistry(setup: RegistrySetup = {}): Promise<Registry> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRegistryOnce(setup);
    } catch (error) {
      if (attempt === 3 || !String((error as Error).message).includes('address already in use')) throw error;
    }
  }
}

async function startRegistryOnce(setup: RegistrySetup): Promise<Registry> {
  const root = await mkdtemp(join(setup.tmp ?? tmpdir(), 'cowstack-registry-'));
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
    ...(setup.configure === undefined ? [] : await setup.configure(root)),
  ];
  const config = join(root, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);
  const child = spawn(setup.binary ?? REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  // Should this process exit without stopping it, the registry goes too.
  const killOnExit = (): void => void child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
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
