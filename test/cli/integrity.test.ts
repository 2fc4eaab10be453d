import { lstat, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cowstack, expectErrorLine, expectOk, makeTree, pattern, removeTempDirs, tempDir } from './run.js';

describe('cowstack: damaged data', () => {
  afterAll(removeTempDirs);

  it('check reports a damaged block and exits 4; reading it fails with EINTEGRITY (exit 4)', async () => {
    const work = await tempDir('damage');
    const store = join(work, 'store');
    const source = join(work, 'tree');
    await makeTree(source);
    expectOk(await cowstack(['--store', store, 'init', '--block-size', '4K']));
    expectOk(await cowstack(['--store', store, 'import', source, 'base']));
    const packs = join(store, 'packs');
    const files = await Promise.all((await readdir(packs)).map(async (name) => ({ path: join(packs, name), size: (await lstat(join(packs, name))).size })));
    const largest = files.sort((a, b) => b.size - a.size)[0]!;
    const bytes = await readFile(largest.path);
    const at = bytes.indexOf(pattern(200 * 1024, 7).subarray(40_000, 40_064));
    expect(at).toBeGreaterThan(0);
    bytes[at + 10] ^= 0xff;
    await writeFile(largest.path, bytes);

    const checked = await cowstack(['--store', store, 'check']);
    expect(checked.status).toBe(4);
    expect(checked.stdout).toMatch(/^EINTEGRITY /m);
    expect(checked.stdout).toMatch(/^1 problem\(s\)|^\d+ problem\(s\): \d+ block\(s\) checked$/m);
    const json = await cowstack(['--store', store, 'check', '--json']);
    expect(json.status).toBe(4);
    expect((JSON.parse(json.stdout) as { ok: boolean }).ok).toBe(false);
    const read = await cowstack(['--store', store, 'cat', 'base', '/data/big.bin']);
    expect(read.status).toBe(4);
    expectErrorLine(read.stderr, 'EINTEGRITY');
  });
});
