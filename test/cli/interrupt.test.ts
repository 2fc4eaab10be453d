import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, cowstack, cowstackJson, finish, removeTempDirs, start, tempDir, waitFor } from './run.js';

const NODE_MODULES = join(ROOT, 'node_modules');

/** Bytes in the store's pack files: they grow while an import writes blocks. */
function packBytes(store: string): number {
  const packs = join(store, 'packs');
  if (!existsSync(packs)) return 0;
  return readdirSync(packs).reduce((total, name) => total + statSync(join(packs, name)).size, 0);
}

/** After an interrupted command: the store checks ok, is not locked, and holds exactly `keys`. */
async function expectIntact(store: string, keys: string[]): Promise<void> {
  expect(existsSync(join(store, 'lock'))).toBe(false);
  const report = await cowstackJson<{ ok: boolean; problems: unknown[] }>(store, ['check', '--json']);
  expect(report).toMatchObject({ ok: true, problems: [] });
  const listed = await cowstackJson<{ key: string }[]>(store, ['ls', '--json']);
  expect(listed.map((item) => item.key)).toEqual(keys);
  const writable = await cowstack(['--store', store, 'prepare', 'after', ...(keys.length > 0 ? [keys[0]!] : [])]);
  expect(writable.status).toBe(0);
  expect((await cowstack(['--store', store, 'rm', 'after'])).status).toBe(0);
}

describe('Ctrl-C (SIGINT)', () => {
  afterAll(removeTempDirs);

  it('during import of a large directory: nothing committed, store closed, exit 130', async () => {
    const store = join(await tempDir('sigint-import'), 'store');
    const child = start(['--store', store, 'import', NODE_MODULES, 'big']);
    const done = finish(child);
    // Interrupted once it has written 8 MiB of the ~65 MiB: in the middle of the work.
    expect(await waitFor(() => packBytes(store) > 8 << 20, 60_000)).toBe(true);
    child.kill('SIGINT');
    const result = await done;
    expect(result.status).toBe(130);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('cowstack: ABORT_ERR: interrupted by SIGINT\n');
    await expectIntact(store, []);
    const gc = await cowstackJson<{ blocksRemoved: number }>(store, ['gc', '--json']);
    expect(gc.blocksRemoved).toBeGreaterThan(0); // what the interrupted import had stored was garbage
  });

  it('during gc: the snapshots are intact, store closed, exit 130', async () => {
    const store = join(await tempDir('sigint-gc'), 'store');
    expect((await cowstack(['--store', store, 'import', join(NODE_MODULES, 'typescript'), 'modules'])).status).toBe(0);
    expect((await cowstack(['--store', store, 'import', join(NODE_MODULES, 'vitest'), 'vitest'])).status).toBe(0);
    expect((await cowstack(['--store', store, 'rm', 'modules'])).status).toBe(0);
    const child = start(['--store', store, 'gc']);
    const done = finish(child);
    expect(await waitFor(() => existsSync(join(store, 'lock')), 30_000)).toBe(true);
    child.kill('SIGINT');
    const result = await done;
    expect(result.status).toBe(130);
    expect(result.stderr).toBe('cowstack: ABORT_ERR: interrupted by SIGINT\n');
    await expectIntact(store, ['vitest']);
    const cat = await cowstack(['--store', store, 'cat', 'vitest', '/package.json']);
    expect(JSON.parse(cat.stdout)).toMatchObject({ name: 'vitest' });
  });
});
