import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, ROOT, childEnv, cowstack, hasScript, removeTempDirs, tempDir } from './run.js';

const NODE_MODULES = join(ROOT, 'node_modules');
const BAR = /\[[#-]{10,}\] +\d+%/;

/** Runs `cowstack ARGS…` with a pseudo-terminal as its stdin, stdout and stderr (util-linux `script`). */
function inTerminal(args: readonly string[]): { status: number | null; output: string } {
  const command = [process.execPath, MAIN, ...args].map((word) => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = spawnSync('script', ['-qec', command, '/dev/null'], { env: childEnv({ COLUMNS: '100' }), encoding: 'utf8', timeout: 100_000 });
  return { status: result.status, output: result.stdout };
}

describe('progress bars', () => {
  afterAll(removeTempDirs);

  let store: string;

  beforeAll(async () => {
    store = join(await tempDir('progress'), 'store');
  });

  it('are drawn on stderr when it is a terminal: import and check, with bytes, rate and ETA', ({ skip }) => {
    if (!hasScript()) skip('util-linux `script` is missing: no pseudo-terminal to test with');
    const imported = inTerminal(['--store', store, 'import', NODE_MODULES, 'modules']);
    expect(imported.status).toBe(0);
    expect(imported.output).toMatch(BAR);
    expect(imported.output).toMatch(/import modules \[[#-]+\] +\d+% +[\d.]+ [KMG]?i?B\/[\d.]+ MiB/);
    expect(imported.output).toMatch(/\/s +ETA \d+:\d\d/);
    expect(imported.output).toContain('\r\x1b[K');
    expect(imported.output).toMatch(/modules: directory imported/);
    const checked = inTerminal(['--store', store, 'check']);
    expect(checked.status).toBe(0);
    expect(checked.output).toMatch(/check \[[#-]+\] +\d+% +[\d,]+ blocks\/[\d,]+ blocks/);
  });

  it('are not drawn into a pipe', async () => {
    const checked = await cowstack(['--store', store, 'check']);
    expect(checked.status).toBe(0);
    expect(checked.stderr).toBe('');
    expect(checked.stdout).toMatch(/^ok: [\d,]+ block\(s\) checked\n$/);
    const imported = await cowstack(['--store', store, 'import', join(NODE_MODULES, 'fast-check'), 'fc']);
    expect(imported.status).toBe(0);
    expect(imported.stderr).toBe('');
    expect(imported.stdout).not.toContain('\r');
  });
});
