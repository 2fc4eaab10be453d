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

  it('fails with one line and exit 3 for an image the registry does not have', async () => {
    const store = await tempDir('cowstack-cli-pull-');
    const result = await cowstack(['--store', store, 'pull', `${registry.host}/cli/missing:v1`]);
    expect(result.status).toBe(3);
    expectErrorLine(result.stderr, 'ENOENT');
  });
});
