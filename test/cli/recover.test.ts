import { existsSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cowstack, cowstackJson, expectErrorLine, expectOk, makeTree, removeTempDirs, tempDir } from './run.js';

interface Recovery {
  catalog: 'missing' | 'damaged';
  keptAs?: string;
  recovered: { key: string; tree: string; size: number | null }[];
  skipped: { tree: string; error: string }[];
  nodesUnreadable: number;
}

interface Listed {
  key: string;
  kind: string;
  parent?: string;
  labels: Record<string, string>;
}

/** A store with an imported tree and a committed snapshot on it. */
async function makeStore(name: string): Promise<string> {
  const work = await tempDir(name);
  const store = join(work, 'store');
  const source = join(work, 'tree');
  await makeTree(source);
  expectOk(await cowstack(['--store', store, 'init', '--block-size', '4K']));
  expectOk(await cowstack(['--store', store, 'import', source, 'base']));
  expectOk(await cowstack(['--store', store, 'prepare', 'work', 'base']));
  const host = join(work, 'motd');
  await writeFile(host, 'recovered me\n');
  expectOk(await cowstack(['--store', store, 'cp', host, 'work:/etc/motd']));
  expectOk(await cowstack(['--store', store, 'commit', 'top', 'work']));
  return store;
}

describe('cowstack recover', () => {
  afterAll(removeTempDirs);

  it('is listed in --help and has its own', async () => {
    const general = await cowstack(['--help']);
    expectOk(general);
    expect(general.stdout).toMatch(/^ {2}recover +\S/m);
    const own = await cowstack(['recover', '--help']);
    expectOk(own);
    expect(own.stdout).toMatch(/^Usage: cowstack recover \[--json\]$/m);
  });

  it('after the catalog was deleted: every command refuses with EINTEGRITY (exit 4) pointing to it; recover names the trees again, and their files read back', async () => {
    const store = await makeStore('lost');
    const before = await cowstackJson<Listed[]>(store, ['ls', '--json']);
    await unlink(join(store, 'catalog'));
    for (const args of [['ls'], ['gc']]) {
      const refused = await cowstack(['--store', store, ...args]);
      expect(refused.status).toBe(4);
      expectErrorLine(refused.stderr, 'EINTEGRITY');
      expect(refused.stderr).toMatch(/catalog is missing.*cowstack recover/);
    }

    const result = await cowstack(['--store', store, 'recover']);
    expectOk(result);
    expect(result.stdout).toMatch(/^KEY +SIZE +TREE$/m);
    expect(result.stdout).toMatch(/^\d+ snapshot\(s\) recovered, 0 tree\(s\) skipped \(the catalog was missing\)/m);
    const listed = await cowstackJson<Listed[]>(store, ['ls', '--json']);
    expect(listed.length).toBeGreaterThanOrEqual(before.filter((info) => info.kind === 'committed').length);
    for (const info of listed) {
      expect(info.kind).toBe('committed');
      expect(info.parent).toBeUndefined();
      expect(info.key).toBe(`recovered-${info.labels['cowstack.recovered.tree']!.slice(0, 12)}`);
      expect(result.stdout).toContain(info.key);
    }
    const motd = await Promise.all(listed.map((info) => cowstack(['--store', store, 'cat', info.key, '/etc/motd'])));
    expect(motd.some((read) => read.status === 0 && read.stdout === 'recovered me\n')).toBe(true);
    const hosts = await Promise.all(listed.map((info) => cowstack(['--store', store, 'cat', info.key, '/etc/hosts'])));
    expect(hosts.filter((read) => read.status === 0).map((read) => read.stdout)).toContain('127.0.0.1 localhost\n');
    expectOk(await cowstack(['--store', store, 'gc']));
    expectOk(await cowstack(['--store', store, 'check']));
    expect(await cowstackJson<Listed[]>(store, ['ls', '--json'])).toEqual(listed);

    const again = await cowstack(['--store', store, 'recover']);
    expect(again.status).toBe(1);
    expectErrorLine(again.stderr, 'EEXIST');
  });

  it('after the catalog was damaged: --json reports the recovery, and the damaged file is kept as catalog.damaged', async () => {
    const store = await makeStore('damaged');
    const bytes = await readFile(join(store, 'catalog'));
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(join(store, 'catalog'), bytes);
    const refused = await cowstack(['--store', store, 'ls']);
    expect(refused.status).toBe(4);
    expect(refused.stderr).toContain('cowstack recover');

    const report = await cowstackJson<Recovery>(store, ['recover', '--json']);
    expect(report.catalog).toBe('damaged');
    expect(report.keptAs).toBe('catalog.damaged');
    expect(report.skipped).toEqual([]);
    expect(report.nodesUnreadable).toBe(0);
    expect(report.recovered.length).toBeGreaterThanOrEqual(2);
    for (const item of report.recovered) expect(typeof item.size).toBe('number');
    expect(await readFile(join(store, 'catalog.damaged'))).toEqual(bytes);
    const listed = await cowstackJson<Listed[]>(store, ['ls', '--json']);
    expect(listed.map((info) => info.key).sort()).toEqual(report.recovered.map((item) => item.key).sort());
  });

  it('where there is no store fails with ENOENT (exit 3) and creates nothing', async () => {
    const work = await tempDir('none');
    const store = join(work, 'store');
    const result = await cowstack(['--store', store, 'recover']);
    expect(result.status).toBe(3);
    expectErrorLine(result.stderr, 'ENOENT');
    expect(existsSync(store)).toBe(false);
  });
});
