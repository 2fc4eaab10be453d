import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../dist/src/index.js';
import { cowstack, cowstackJson, expectErrorLine, expectOk, makeTar, makeTree, pattern, removeTempDirs, tempDir } from './run.js';

describe('cowstack: the commands on one store', () => {
  afterAll(removeTempDirs);

  let work: string;
  let store: string;
  let source: string;
  const run = (...args: string[]) => cowstack(['--store', store, ...args], { cwd: work });

  beforeAll(async () => {
    work = await tempDir('cmds');
    store = join(work, 'store');
    source = join(work, 'tree');
    await makeTree(source);
  });

  it('init creates the store with the block size asked for, and refuses another one later', async () => {
    const created = await run('init', '--block-size', '4K');
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/block size 4\.00 KiB, 0 snapshot\(s\)/);
    const again = await run('init', '--block-size', '8192');
    expect(again.status).toBe(1);
    expectErrorLine(again.stderr, 'EINVAL');
  });

  it('import commits a directory, and refuses a taken key or a missing source', async () => {
    const imported = await run('import', source, 'base');
    expect(imported.status).toBe(0);
    expect(imported.stdout).toMatch(/^base: directory imported, \d+ entries, [\d.]+ KiB newly stored\n$/);
    const taken = await run('import', source, 'base');
    expect(taken.status).toBe(1);
    expectErrorLine(taken.stderr, 'EEXIST');
    const missing = await run('import', join(work, 'nothing-here'), 'other');
    expect(missing.status).toBe(3);
    expectErrorLine(missing.stderr, 'ENOENT');
    await writeFile(join(work, 'notes.txt'), 'not an archive '.repeat(100));
    const notTar = await run('import', join(work, 'notes.txt'), 'other');
    expect(notTar.status).toBe(1);
    expect(notTar.stderr).toMatch(/^cowstack: EINVAL: not a directory, a tar or a gzip'd tar/);
  });

  it('prepare, view, commit and rm print the key and fail with the API codes', async () => {
    expect((await run('prepare', 'c1', 'base')).stdout).toBe('c1\n');
    const noParent = await run('prepare', 'c2', 'nope');
    expect(noParent.status).toBe(3);
    expect(noParent.stderr).toMatch(/^cowstack: ENOENT: no snapshot 'nope'/);
    const notCommitted = await run('prepare', 'c2', 'c1');
    expect(notCommitted.status).toBe(1);
    expectErrorLine(notCommitted.stderr, 'EINVAL');
  });

  it('cp copies files and directories both ways, and cat prints a file', async () => {
    await writeFile(join(work, 'note.txt'), 'hello from the host\n');
    expectOk(await run('cp', join(work, 'note.txt'), 'c1:/etc/note.txt'));
    expect((await run('cat', 'c1', '/etc/note.txt')).stdout).toBe('hello from the host\n');

    const changed = pattern(200 * 1024, 7);
    changed.write('changed', 100_000);
    await writeFile(join(work, 'big.bin'), changed);
    expectOk(await run('cp', join(work, 'big.bin'), 'c1:/data/'));
    expect((await run('cat', 'c1', '/data/big.bin')).raw.equals(changed)).toBe(true);

    await mkdir(join(work, 'site/css'), { recursive: true });
    await writeFile(join(work, 'site/index.html'), '<h1>hi</h1>\n');
    await writeFile(join(work, 'site/css/a.css'), 'h1 {}\n');
    expectOk(await run('cp', join(work, 'site'), 'c1:/srv'));
    expect((await run('cat', 'c1', '/srv/css/a.css')).stdout).toBe('h1 {}\n');
    const merge = await run('cp', join(work, 'site'), 'c1:/srv');
    expect(merge.status).toBe(0); // /srv exists: the copy goes inside it, as /srv/site
    expect((await run('cat', 'c1', '/srv/site/index.html')).stdout).toBe('<h1>hi</h1>\n');

    await mkdir(join(work, 'out'));
    expectOk(await run('cp', 'c1:/etc/hosts', join(work, 'out')));
    expect(await readFile(join(work, 'out/hosts'), 'utf8')).toBe('127.0.0.1 localhost\n');
    expectOk(await run('cp', 'c1:/srv', join(work, 'out/srv-copy')));
    expect((await readdir(join(work, 'out/srv-copy'))).sort()).toEqual(['css', 'index.html', 'site']);
    expectOk(await run('cp', 'c1:/hosts-link', join(work, 'out/link')));
    expect(await readlink(join(work, 'out/link'))).toBe('etc/hosts');
    const exec = await lstat(join(work, 'out/srv-copy/index.html'));
    expect(exec.isFile()).toBe(true);

    const both = await run('cp', join(work, 'a'), join(work, 'b'));
    expect(both.status).toBe(2);
    const intoCommitted = await run('cp', join(work, 'note.txt'), 'base:/x');
    expect(intoCommitted.status).toBe(1);
    expectErrorLine(intoCommitted.stderr, 'EROFS');
    const noKey = await run('cp', 'ghost:/etc/hosts', join(work, 'out/x'));
    expect(noKey.status).toBe(3);
    expectErrorLine(noKey.stderr, 'ENOENT');
  });

  it('cat fails with ENOENT (exit 3) for a missing path, EISDIR for a directory', async () => {
    const missing = await run('cat', 'c1', '/no/such/file');
    expect(missing.status).toBe(3);
    expectErrorLine(missing.stderr, 'ENOENT');
    const dir = await run('cat', 'c1', '/etc');
    expect(dir.status).toBe(1);
    expectErrorLine(dir.stderr, 'EISDIR');
  });

  it('diff prints A/C/D lines like docker diff, and --json the changes', async () => {
    expectOk(await run('cp', 'c1:/etc/hosts', join(work, 'hosts-copy')));
    const layer = await openStore({ dir: store, workers: 0 });
    try {
      const c1 = await layer.mount('c1');
      await c1.unlink('/bin/tool');
    } finally {
      await layer.close();
    }
    const text = await run('diff', 'c1');
    expect(text.status).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines).toContain('A /etc/note.txt');
    expect(lines).toContain('C /data/big.bin');
    expect(lines).toContain('D /bin/tool');
    expect(lines).toContain('A /srv');
    for (const line of lines) expect(line).toMatch(/^[ACD] \//);
    const json = await cowstackJson<{ path: string; kind: string }[]>(store, ['diff', 'c1', '--json']);
    expect(json.map((change) => `${change.kind[0]!.toUpperCase()} ${change.path}`)).toEqual(lines.map((line) => line.replace(/^C/, 'M')));
    const none = await run('diff', 'ghost');
    expect(none.status).toBe(3);
  });

  it('commit, view; ls prints a table and --json SnapshotInfo objects with size', async () => {
    expect((await run('commit', 'img', 'c1')).stdout).toBe('img\n');
    expect((await run('view', 'v', 'img')).stdout).toBe('v\n');
    expect((await run('prepare', 'c3', 'img')).stdout).toBe('c3\n');
    expect((await run('commit', 'img-keep', 'c3', '--keep')).stdout).toBe('img-keep\n');

    const listed = await cowstackJson<Record<string, unknown>[]>(store, ['ls', '--json']);
    expect(listed.map((item) => item.key)).toEqual(['base', 'c3', 'img', 'img-keep', 'v']);
    const check = await openStore({ dir: store, readOnly: true, workers: 0 });
    try {
      for (const item of listed) {
        const info = await check.stat(item.key as string);
        expect(Object.keys(item).sort()).toEqual([...Object.keys(info), 'size'].sort());
        expect(item).toMatchObject({ key: info.key, kind: info.kind, labels: info.labels, created: info.created.toISOString(), updated: info.updated.toISOString() });
        expect(item.parent).toBe(info.parent);
        expect(item.size).toBe((await check.usage(info.key)).size);
      }
    } finally {
      await check.close();
    }
    expect(listed.find((item) => item.key === 'c3')).toMatchObject({ kind: 'active', parent: 'img-keep' });

    const table = await run('ls');
    const rows = table.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^KEY +KIND +PARENT +SIZE +CREATED$/);
    expect(rows[1]).toMatch(/^base +committed +\d+(\.\d+)? K?i?B +(just now|\d+ seconds? ago)$/);
    expect(rows.slice(1).map((row) => row.split(/ +/)[0])).toEqual(['base', 'c3', 'img', 'img-keep', 'v']);
  });

  it('tree draws the graph with each snapshot\'s own size, and --json nests it', async () => {
    const text = await run('tree');
    expect(text.status).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^base +\S+ \S+ +committed$/);
    expect(lines[1]).toMatch(/^└── img +\S+ \S+ +committed$/);
    expect(lines.slice(2).map((line) => line.replace(/ +\S+ \S+ +\w+$/, ''))).toEqual(['    ├── img-keep', '    │   └── c3', '    └── v']);
    const forest = await cowstackJson<{ key: string; kind: string; size: number; children: unknown[] }[]>(store, ['tree', '--json']);
    expect(forest).toHaveLength(1);
    expect(forest[0]).toMatchObject({ key: 'base', kind: 'committed', children: [{ key: 'img', children: [{ key: 'img-keep', children: [{ key: 'c3', children: [] }] }, { key: 'v', children: [] }] }] });
    expect(typeof forest[0]!.size).toBe('number');
  });

  it('rm refuses a parent (ENOTEMPTY), removes a leaf, and ENOENT after', async () => {
    const parent = await run('rm', 'base');
    expect(parent.status).toBe(1);
    expectErrorLine(parent.stderr, 'ENOTEMPTY');
    expect((await run('rm', 'v')).stdout).toBe('v\n');
    const gone = await run('rm', 'v');
    expect(gone.status).toBe(3);
    expectErrorLine(gone.stderr, 'ENOENT');
  });

  it('export writes a layer tar (to a file or stdout) and a tree; import takes the layer back', async () => {
    const tar = join(work, 'img.tar');
    const written = await run('export', 'img', tar, '--base', 'base');
    expect(written.stderr).toBe('');
    expect(written.status).toBe(0);
    const bytes = await readFile(tar);
    expect(bytes.subarray(257, 262).toString()).toBe('ustar');
    const piped = await run('export', 'img', '-', '--layer');
    expect(piped.status).toBe(0);
    expect(piped.raw.equals(bytes)).toBe(true);
    const gz = join(work, 'img.tar.gz');
    expectOk(await run('export', 'img', gz));
    expect([...(await readFile(gz)).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    expect((await readdir(work)).filter((name) => name.includes('.partial'))).toEqual([]);

    const imported = await run('import', gz, 'img-again', '--parent', 'base');
    expect(imported.status).toBe(0);
    expect(imported.stdout).toMatch(/^img-again: layer imported/);
    expect((await run('cat', 'img-again', '/etc/note.txt')).stdout).toBe('hello from the host\n');

    const dir = join(work, 'exported');
    expectOk(await run('export', 'img', dir));
    expect(await readFile(join(dir, 'data/big.bin'))).toEqual((await run('cat', 'img', '/data/big.bin')).raw);
    expect(existsSync(join(dir, 'bin/tool'))).toBe(false);
    const notEmpty = await run('export', 'img', dir, '--tree');
    expect(notEmpty.status).toBe(1);
    expectErrorLine(notEmpty.stderr, 'ENOTEMPTY');
    const both = await run('export', 'img', dir, '--tree', '--layer');
    expect(both.status).toBe(2);
  });

  it('df prints the waterfall, --json its figures, -v per snapshot', async () => {
    const text = await run('df');
    expect(text.status).toBe(0);
    for (const row of ['logical', 'whole-file layers', 'block-level layers', 'stored', 'saved by block-level CoW', 'saved by dedup']) {
      expect(text.stdout).toMatch(new RegExp(`^${row} +-?[\\d.]+ [KMG]?i?B +-?[\\d,]+ `, 'm'));
    }
    const usage = await cowstackJson<Record<string, number>>(store, ['df', '--json']);
    const verbose = await cowstackJson<Record<string, unknown> & { perSnapshot: Record<string, unknown>[] }>(store, ['df', '-v', '--json']);
    expect(usage.perSnapshot).toBeUndefined();
    const reader = await openStore({ dir: store, readOnly: true, workers: 0 });
    try {
      const stats = await reader.stats();
      expect(usage).toMatchObject({ ...stats });
      const keys: string[] = [];
      for await (const info of reader.walk()) keys.push(info.key);
      expect(verbose.perSnapshot.map((item) => item.key)).toEqual(keys);
      let copyOnWrite = 0;
      for (const item of verbose.perSnapshot) {
        expect(item).toMatchObject(await reader.usage(item.key as string));
        copyOnWrite += item.size as number;
      }
      expect(usage.copyOnWriteBytes).toBe(copyOnWrite);
      expect(usage.savedByDedup).toBe(copyOnWrite - stats.storedBytes);
      expect(usage.savedByCopyOnWrite).toBe(usage.layerBytes! - copyOnWrite);
    } finally {
      await reader.close();
    }
    const rows = await run('df', '-v');
    expect(rows.stdout).toMatch(/^KEY +KIND +FILES +LOGICAL +WHOLE-FILE LAYER +BLOCK-LEVEL LAYER +BLOCKS +INODES$/m);
  });

  it('gc and check report in text and --json', async () => {
    expectOk(await run('prepare', 'scratch', 'base'));
    await writeFile(join(work, 'scratch.bin'), pattern(64 * 1024, 99)); // blocks no other snapshot has
    expectOk(await run('cp', join(work, 'scratch.bin'), 'scratch:/scratch.bin'));
    expectOk(await run('rm', 'scratch'));
    const gc = await cowstackJson<{ blocksRemoved: number; bytesFreed: number }>(store, ['gc', '--json']);
    expect(Object.keys(gc).sort()).toEqual(['blocksRemoved', 'bytesFreed']);
    expect(gc.blocksRemoved).toBeGreaterThan(0);
    const again = await run('gc');
    expect(again.stdout).toBe('removed 0 block(s), freed 0 B (0 bytes)\n');
    const report = await cowstackJson<{ ok: boolean; blocksChecked: number; problems: unknown[] }>(store, ['check', '--json']);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.blocksChecked).toBeGreaterThan(0);
    expect((await run('check')).stdout).toBe(`ok: ${report.blocksChecked} block(s) checked\n`);
  });

  it('--debug adds the stack trace after the one line', async () => {
    const plain = await run('cat', 'ghost', '/x');
    expectErrorLine(plain.stderr, 'ENOENT');
    const debug = await run('cat', 'ghost', '/x', '--debug');
    expect(debug.status).toBe(3);
    const lines = debug.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(plain.stderr.trimEnd());
    expect(lines.slice(1).some((line) => /^\s+at /.test(line))).toBe(true);
  });

  it('a second writer is refused with ELOCKED (exit 5); readers still read', async () => {
    const holder = await openStore({ dir: store, workers: 0 });
    try {
      const locked = await run('prepare', 'c9', 'base');
      expect(locked.status).toBe(5);
      expectErrorLine(locked.stderr, 'ELOCKED');
      const gc = await run('gc');
      expect(gc.status).toBe(5);
      const listed = await run('ls');
      expect(listed.status).toBe(0);
    } finally {
      await holder.close();
    }
  });

  it('the store comes from --store, else $COWSTACK_STORE, else ./.cowstack (created on first use)', async () => {
    const fromEnv = await cowstack(['ls', '--json'], { cwd: work, env: { COWSTACK_STORE: store } });
    expect(JSON.parse(fromEnv.stdout)).toEqual(await cowstackJson(store, ['ls', '--json']));
    expect((JSON.parse(fromEnv.stdout) as unknown[]).length).toBeGreaterThan(0);
    const flagWins = await cowstack(['--store', join(work, 'other'), 'ls', '--json'], { cwd: work, env: { COWSTACK_STORE: store } });
    expect(JSON.parse(flagWins.stdout)).toEqual([]);
    const fresh = await tempDir('default');
    const byDefault = await cowstack(['tree'], { cwd: fresh });
    expect(byDefault.status).toBe(0);
    expect(existsSync(join(fresh, '.cowstack'))).toBe(true);
    const after = await cowstack(['ls', '--store', join(work, 'other'), '--json'], { cwd: work });
    expect(after.status).toBe(0);
  });
  it('export --image writes an OCI layout that import takes back; a docker save tar is an image too', async () => {
    const layout = join(work, 'layout');
    const exported = await run('export', 'img', layout, '--image', '--tag', 'img-1');
    expect(exported.status).toBe(0);
    expect(exported.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const imported = await run('import', layout, 'from-layout', '--tag', 'img-1');
    expect(imported.status).toBe(0);
    expect(imported.stdout).toMatch(/^from-layout: OCI image layout imported, 2 layer snapshot\(s\), the top sha256:[0-9a-f]{64}, .* newly stored\n$/);
    expect((await run('cat', 'from-layout', '/etc/note.txt')).stdout).toBe('hello from the host\n');
    const top = /the top (sha256:[0-9a-f]{64})/.exec(imported.stdout)![1]!;
    const listed = await cowstackJson<{ key: string; parent?: string; size: number }[]>(store, ['ls', '--json']);
    expect(listed.find((item) => item.key === 'from-layout')).toMatchObject({ parent: top, size: 0 });
    expectOk(await run('cp', `${top}:/etc/note.txt`, join(work, 'from-chain.txt')));
    expect(await readFile(join(work, 'from-chain.txt'), 'utf8')).toBe('hello from the host\n');
    expect((await run('import', layout, 'other', '--parent', 'base')).status).toBe(2);

    // A `docker save` tar in its legacy layout, one layer: base as a full layer.
    const layer = (await run('export', 'base', '-')).raw;
    const sha = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');
    const diffId = `sha256:${sha(layer)}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, history: [] }));
    const id = sha(`${diffId}layer`);
    const manifest = [{ Config: `${sha(config)}.json`, RepoTags: ['saved:1'], Layers: [`${id}/layer.tar`] }];
    const saved = join(work, 'saved.tar');
    await writeFile(saved, await makeTar([
      { header: { path: `${id}/`, type: 'directory' } },
      { header: { path: `${id}/VERSION`, type: 'file' }, body: Buffer.from('1.0') },
      { header: { path: `${id}/layer.tar`, type: 'file' }, body: layer },
      { header: { path: `${sha(config)}.json`, type: 'file' }, body: config },
      { header: { path: 'manifest.json', type: 'file' }, body: Buffer.from(JSON.stringify(manifest)) },
    ]));
    const fromSave = await run('import', saved, 'saved');
    expect(fromSave.status).toBe(0);
    expect(fromSave.stdout).toMatch(/^saved: image archive imported, 1 layer snapshot\(s\), the top sha256:/);
    expect((await run('cat', 'saved', '/etc/hosts')).stdout).toBe('127.0.0.1 localhost\n');
  });
});

