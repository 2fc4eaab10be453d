import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../dist/src/index.js';
import { registryUnavailable } from '../../src/cli/localRegistry.js';
import { DEMO, ROOT, childEnv, removeTempDirs, tempDir } from './run.js';

function runDemo(store: string, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [DEMO], { cwd: ROOT, env: childEnv({ COWSTACK_STORE: store, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** The exact number after `label` in the demo's output (thousands separators removed). */
function figure(output: string, pattern: RegExp): number {
  const match = pattern.exec(output);
  if (match === null) throw new Error(`no ${pattern} in:\n${output}`);
  return Number(match[1]!.replace(/,/g, ''));
}

describe('npm run demo', () => {
  afterAll(removeTempDirs);

  it('runs twice on the same durable store, and every figure it prints is the store\'s', async () => {
    const store = join(await tempDir('demo'), 'store');
    // The first run with a registry program that will not start: step 9 says so and is skipped.
    const first = await runDemo(store, { COWSTACK_DEMO_REGISTRY: '/bin/false' });
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^ {3}skipped: docker-registry did not start: docker-registry exited at start/m);
    const second = await runDemo(store);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    const out = second.stdout;
    expect(out).toMatch(/^0\. removed 2 snapshot\(s\) of an earlier demo run/m);
    for (const command of ['import', 'commit', 'df', 'tree', 'diff', 'rm', 'gc', 'check']) expect(out).toMatch(new RegExp(`^\\$ cowstack ${command}\\b`, 'm'));

    const dfStored = figure(out, /^stored +\S+ \S+ +([\d,]+) /m);
    const dfBlocks = figure(out, /^blocks: +([\d,]+) stored/m);
    const dfSnapshots = figure(out, /^snapshots: ([\d,]+) \(/m);
    const gcBlocks = figure(out, /^removed ([\d,]+) block\(s\), freed/m);
    const gcBytes = figure(out, /^removed [\d,]+ block\(s\), freed .* \(([\d,]+) bytes\)$/m);
    const checked = figure(out, /^ok: ([\d,]+) block\(s\) checked$/m);
    const overlay = figure(out, /overlay2 copies up every file a container changes, whole: .* \(([\d,]+) bytes\)/);
    const stored = figure(out, /cowstack stored the changed blocks only: .* \(([\d,]+) bytes,/);
    const largest = /the largest file, (\S+) \(/.exec(out)![1]!;

    const reopened = await openStore({ dir: store, readOnly: true, workers: 0 });
    try {
      const stats = await reopened.stats();
      expect(out).toContain(`store: ${stats.snapshots} snapshots, ${stats.blocks.toLocaleString('en-US')} blocks, ${stats.storedBytes.toLocaleString('en-US')} bytes stored`);
      expect(dfStored - gcBytes).toBe(stats.storedBytes);
      expect(dfBlocks - gcBlocks).toBe(stats.blocks);
      expect(dfSnapshots - 2).toBe(stats.snapshots);
      expect(checked).toBe(stats.blocks);
      const keys: string[] = [];
      for await (const info of reopened.walk()) keys.push(info.key);
      expect(keys).toEqual(['demo-base', 'demo-image-1']);
      const size = (await (await reopened.mount('demo-base')).stat(largest)).size;
      expect(overlay).toBe(3 * size);
      expect(stored).toBeGreaterThan(0);
      expect(stored).toBeLessThanOrEqual(3 * 2 * stats.blockSize); // a 64-byte write touches one block, two at a boundary
      expect((await reopened.usage('demo-image-1')).size).toBe(figure(out, /usage\(demo-container-1\): ([\d,]+) bytes/));
      const image = await reopened.mount('demo-image-1');
      const middle = await image.open(largest, 'r');
      const { buffer } = await middle.read(Buffer.alloc(64), 0, 64, Math.floor(size / 2));
      await middle.close();
      expect(buffer.toString()).toMatch(/^container 1 was here; /);

      // Step 9: the lazy pull into a second store, where a registry can be started.
      const unavailable = registryUnavailable();
      if (unavailable !== undefined) {
        expect(out).toContain(`skipped: ${unavailable}`);
      } else {
        expect(out).toMatch(new RegExp(`^\\$ cowstack push demo-image-1 127\\.0\\.0\\.1:\\d+/demo/image:v1 --lazy$`, 'm'));
        const edgeDir = /a fresh store \((\S+)\) pulled it with --lazy/.exec(out)![1]!;
        expect(existsSync(edgeDir)).toBe(false);
        expect(figure(out, /2 snapshots, mountable, ([\d,]+) bytes of data stored/)).toBe(0);
        const kept = figure(out, /there fetched and kept ([\d,]+) bytes/);
        const keptBlocks = figure(out, /there fetched and kept [\d,]+ bytes \(([\d,]+) block\(s\)\)/);
        const readBytes = Math.min(size, 1 << 20);
        expect(keptBlocks).toBeGreaterThan(0);
        expect(keptBlocks).toBeLessThanOrEqual(Math.ceil(readBytes / stats.blockSize) + 1);
        expect(kept).toBeLessThanOrEqual(keptBlocks * stats.blockSize);
        // Every block of the image is either stored there now or still remote: the same blocks this store holds.
        const checkedThere = figure(out, /check there: ([\d,]+) block\(s\) stored and checked/);
        const remoteThere = figure(out, /stored and checked, ([\d,]+) still in the registry/);
        expect(checkedThere).toBe(keptBlocks);
        expect(checkedThere + remoteThere).toBe(stats.blocks);
      }
    } finally {
      await reopened.close();
    }
  });
});
