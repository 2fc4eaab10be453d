/** The images the registry tests push and pull, and a registry behind a counting proxy to push them to. */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Store } from '../../src/index.js';
import { applyOps, content, openMemoryStore, type TreeOp } from '../image/kit.js';
import { startProxy, startRegistry, type Proxy, type Registry } from './harness.js';

/** A base tree with every kind of entry, and big incompressible files. */
export const BASE: TreeOp[] = [
  { kind: 'dir', path: '/bin', mode: 0o755, uid: 0, gid: 0 },
  { kind: 'file', path: '/bin/tool', mode: 0o4755, uid: 0, gid: 0, size: 200_000, seed: 1 },
  { kind: 'hardlink', path: '/bin/tool-too', from: 0 },
  { kind: 'symlink', path: '/bin/sh', target: 'tool' },
  { kind: 'dir', path: '/etc', mode: 0o755, uid: 0, gid: 0 },
  { kind: 'file', path: '/etc/hosts', mode: 0o644, uid: 0, gid: 0, size: 100, seed: 2 },
  { kind: 'dir', path: '/home/ü ser', mode: 0o2750, uid: 1000, gid: 1000 },
  { kind: 'file', path: '/home/ü ser/data', mode: 0o600, uid: 1000, gid: 1000, size: 70_000, seed: 3 },
  { kind: 'file', path: '/empty', mode: 0o644, uid: 0, gid: 0, size: 0, seed: 4 },
];

/** `base`, then `child` on it (a file changed, one deleted, a directory replaced), then `container` on `child` (one small file). */
export async function buildImages(store: Store): Promise<void> {
  const base = await store.prepare('base-work');
  await applyOps(base, BASE);
  await store.commit('base', 'base-work');
  const child = await store.prepare('child-work', 'base');
  await child.writeFile('/etc/hosts', content(5000, 9));
  await child.rm('/home', { recursive: true });
  await child.mkdir('/home');
  await child.writeFile('/home/new', content(30_000, 10));
  await child.unlink('/empty');
  await store.commit('child', 'child-work');
  const container = await store.prepare('container', 'child');
  await container.writeFile('/etc/motd', 'hello from a container\n');
  await store.commit('container-commit', 'container');
}

export interface Fixture {
  registry: Registry;
  proxy: Proxy;
  /** A memory store holding `buildImages`'s snapshots. */
  store: Store;
}

/**
 * Registers hooks of the calling `describe`: a registry, a proxy in front of it and a store of
 * `buildImages` for all its tests (stopped after them), and the proxy's record cleared before each.
 */
export function registryFixture(): Fixture {
  const fixture = {} as Fixture;
  beforeAll(async () => {
    fixture.registry = await startRegistry();
    fixture.proxy = await startProxy(fixture.registry.host);
    fixture.store = await openMemoryStore();
    await buildImages(fixture.store);
  });
  afterAll(async () => {
    await fixture.store.close();
    await fixture.proxy.stop();
    await fixture.registry.stop();
  });
  beforeEach(() => {
    fixture.proxy.requests.length = 0;
  });
  return fixture;
}
