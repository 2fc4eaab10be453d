import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hasRegistry, skipReason, startRegistry, type Registry } from '../registry/harness.js';
import { cowstack, cowstackJson, expectErrorLine, expectOk, makeTree, removeTempDirs, tempDir } from './run.js';

/** `cowstack push` and `cowstack pull` against a real registry on loopback. */
describe.skipIf(!hasRegistry)(`cowstack push and pull${skipReason}`, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });
  afterEach(removeTempDirs);

  it('pushes a snapshot chain that pulls into another store as the same tree', async () => {
    const source = await tempDir('cowstack-cli-push-');
    const target = await tempDir('cowstack-cli-pull-');
    const tree = await tempDir('cowstack-cli-tree-');
    await makeTree(tree);
    expectOk(await cowstack(['--store', source, 'import', tree, 'base']));
    const ref = `${registry.host}/cli/base:v1`;
    const pushed = await cowstackJson<{ digest: string; bytesSent: number; blobsSkipped: number }>(source, ['push', 'base', ref, '--json']);
    expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pushed.bytesSent).toBeGreaterThan(0);
    const again = await cowstackJson<{ blobsSkipped: number }>(source, ['push', 'base', ref, '--json']);
    expect(again.blobsSkipped).toBeGreaterThan(0);

    const pulled = await cowstack(['--store', target, 'pull', ref]);
    expectOk(pulled);
    const top = pulled.stdout.trim();
    expect(top).toMatch(/^sha256:[0-9a-f]{64}$/);
    const exported = await tempDir('cowstack-cli-out-');
    const original = await tempDir('cowstack-cli-orig-');
    expectOk(await cowstack(['--store', target, 'export', top, `${exported}/tree`, '--tree']));
    expectOk(await cowstack(['--store', source, 'export', 'base', `${original}/tree`, '--tree']));
    // GNU diff: same names, types, bytes and link targets (links compared, not followed).
    const diff = spawnSync('diff', ['-r', '--no-dereference', `${original}/tree`, `${exported}/tree`], { encoding: 'utf8' });
    expect(diff.status, diff.stdout + diff.stderr).toBe(0);
  });

  it('pulls lazily: the image mounts at once, and blocks come when read, in later commands too', async () => {
    const source = await tempDir('cowstack-cli-push-');
    const target = await tempDir('cowstack-cli-pull-');
    const tree = await tempDir('cowstack-cli-tree-');
    await makeTree(tree);
    expectOk(await cowstack(['--store', source, 'init', '--block-size', '4K']));
    expectOk(await cowstack(['--store', source, 'import', tree, 'base']));
    const ref = `${registry.host}/cli/lazy:v1`;
    expectOk(await cowstack(['--store', source, 'push', 'base', ref, '--lazy']));

    expectOk(await cowstack(['--store', target, 'init', '--block-size', '4K']));
    const pulled = await cowstack(['--store', target, 'pull', ref, '--lazy']);
    expectOk(pulled);
    const top = pulled.stdout.trim();
    const remote = (await cowstackJson<{ ok: boolean; blocksRemote: number }>(target, ['check', '--json']));
    expect(remote.ok).toBe(true);
    expect(remote.blocksRemote).toBeGreaterThanOrEqual(3); // data/big.bin's distinct blocks and the three small files
    expect((await cowstack(['--store', target, 'check'])).stdout).toBe(`ok: 0 block(s) checked, ${remote.blocksRemote} not fetched yet (lazy pull)\n`);

    // `cat` opens the store read-only: it fetches and serves, and keeps nothing.
    const cat = await cowstack(['--store', target, 'cat', top, '/etc/hosts']);
    expectOk(cat);
    expect(cat.stdout).toBe('127.0.0.1 localhost\n');
    expect((await cowstackJson<{ blocksRemote: number }>(target, ['check', '--json'])).blocksRemote).toBe(remote.blocksRemote);

    // gc keeps the source while blocks are remote; a later process reads the whole tree through it.
    expectOk(await cowstack(['--store', target, 'gc']));
    expect((await cowstackJson<{ blocksRemote: number }>(target, ['check', '--json'])).blocksRemote).toBe(remote.blocksRemote);
    const exported = await tempDir('cowstack-cli-out-');
    expectOk(await cowstack(['--store', target, 'export', top, `${exported}/tree`, '--tree']));
    const diff = spawnSync('diff', ['-r', '--no-dereference', tree, `${exported}/tree`], { encoding: 'utf8' });
    expect(diff.status, diff.stdout + diff.stderr).toBe(0);
  });

  it('fails with one line and exit 3 for an image the registry does not have', async () => {
    const store = await tempDir('cowstack-cli-pull-');
    const result = await cowstack(['--store', store, 'pull', `${registry.host}/cli/missing:v1`]);
    expect(result.status).toBe(3);
    expectErrorLine(result.stderr, 'ENOENT');
  });
});
