import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chown, link, lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, symlink, utimes, writeFile, chmod,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TarReader, TarWriter, maybeGunzip } from '../../src/image/tar/index.js';
import type { TarEntryHeader, TarWriterHeader } from '../../src/image/tar/index.js';

const GNU_TAR = '/usr/bin/tar';
const gnuTarVersion = existsSync(GNU_TAR) ? spawnSync(GNU_TAR, ['--version'], { encoding: 'utf8' }).stdout ?? '' : '';
const hasGnuTar = gnuTarVersion.startsWith('tar (GNU tar)');
const isRoot = process.getuid?.() === 0;
const MiB = 1 << 20;

function tar(args: string[], cwd?: string): string {
  return execFileSync(GNU_TAR, args, { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
}

interface Read {
  header: TarEntryHeader;
  sha: string;
}

/** Reads an archive file (tar or tar.gz) with our reader, bodies hashed. */
async function readFileEntries(file: string): Promise<Read[]> {
  const entries: Read[] = [];
  for await (const { header, body } of new TarReader(maybeGunzip(createReadStream(file)))) {
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk);
    entries.push({ header, sha: hash.digest('hex') });
  }
  return entries;
}

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
/** An archived name as the file system would name it: no leading `./`, no trailing `/`. */
const normal = (path: string): string => path.replace(/^\.\//, '').replace(/\/$/, '');

describe.skipIf(!hasGnuTar)(`interop with GNU tar${hasGnuTar ? '' : ` (skipped: no GNU tar at ${GNU_TAR})`}`, () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cowstack-tar-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('archives we write', () => {
    const mtimeMs = 1_600_000_000_000;
    const big = randomBytes(MiB + 7);
    const longPath = `long/${'x'.repeat(120)}/${'y'.repeat(150)}/file.txt`;
    const entries: Array<{ header: TarWriterHeader; body?: Uint8Array }> = [
      { header: { path: 'dir', type: 'directory', mode: 0o2755, mtimeMs } },
      { header: { path: 'dir/setuid', type: 'file', mode: 0o4755, mtimeMs }, body: Buffer.from('run me') },
      { header: { path: 'sticky', type: 'directory', mode: 0o1777, mtimeMs } },
      { header: { path: 'long', type: 'directory', mtimeMs } },
      { header: { path: longPath, type: 'file', mode: 0o600, mtimeMs }, body: Buffer.from('deep') },
      { header: { path: 'ünïcødé/файл.txt', type: 'file', mtimeMs }, body: Buffer.from('utf-8') },
      { header: { path: 'big.bin', type: 'file', mtimeMs, uid: 3_000_000, gid: 4_000_000 }, body: big },
      { header: { path: 'empty', type: 'file', mtimeMs }, body: new Uint8Array(0) },
      { header: { path: 'link', type: 'symlink', linkTarget: 'dir/setuid', mtimeMs } },
      { header: { path: 'longlink', type: 'symlink', linkTarget: `../${'t'.repeat(150)}`, mtimeMs } },
      { header: { path: 'hard', type: 'hardlink', linkTarget: 'dir/setuid', mtimeMs } },
      { header: { path: 'attrs', type: 'file', mtimeMs, xattrs: new Map([['user.cowstack', Buffer.from('on')]]) }, body: Buffer.from('x') },
      { header: { path: 'whiteout', type: 'char', devMajor: 0, devMinor: 0, mode: 0, mtimeMs } },
    ];
    let archive: string;

    beforeAll(async () => {
      const writer = new TarWriter();
      const bytes = (async () => {
        const parts: Uint8Array[] = [];
        for await (const chunk of writer) parts.push(chunk);
        return Buffer.concat(parts);
      })();
      for (const { header, body } of entries) await writer.add(header, body);
      await writer.finish();
      archive = join(root, 'ours.tar');
      await writeFile(archive, await bytes);
    });

    it('are listed by tar -tv with their types, modes, owners and names', () => {
      const lines = tar(['-tvf', archive, '--numeric-owner', '--quoting-style=literal']).trimEnd().split('\n');
      const listed = lines.map((line) => {
        const match = /^(\S{10}) (\d+)\/(\d+)\s+\S+ \S+ \S+ (.*)$/.exec(line);
        expect(match, line).not.toBeNull();
        return [match![1], `${match![2]}/${match![3]}`, match![4]];
      });
      expect(listed).toEqual([
        ['drwxr-sr-x', '0/0', 'dir/'],
        ['-rwsr-xr-x', '0/0', 'dir/setuid'],
        ['drwxrwxrwt', '0/0', 'sticky/'],
        ['drwxr-xr-x', '0/0', 'long/'],
        ['-rw-------', '0/0', longPath],
        ['-rw-r--r--', '0/0', 'ünïcødé/файл.txt'],
        ['-rw-r--r--', '3000000/4000000', 'big.bin'],
        ['-rw-r--r--', '0/0', 'empty'],
        ['lrwxrwxrwx', '0/0', 'link -> dir/setuid'],
        ['lrwxrwxrwx', '0/0', `longlink -> ../${'t'.repeat(150)}`],
        ['hrw-r--r--', '0/0', 'hard link to dir/setuid'],
        ['-rw-r--r--', '0/0', 'attrs'],
        ['c---------', '0/0', 'whiteout'],
      ]);
      expect(lines.at(-1)).toMatch(/ 0,0 /);
    });

    it('are extracted by tar -x to the same bytes, modes, links, times and xattrs', async () => {
      const out = join(root, 'extracted');
      await mkdir(out);
      // A device node needs CAP_MKNOD, which a container may lack: it is checked by the listing.
      tar(['-xf', archive, '-C', out, '--exclude=whiteout', '--xattrs', '--xattrs-include=user.*', ...(isRoot ? ['--same-owner', '--numeric-owner'] : [])]);
      const stat = (path: string) => lstat(join(out, path));
      for (const { header, body } of entries.filter((entry) => entry.header.type === 'file' || entry.header.type === 'directory')) {
        const info = await stat(header.path);
        expect(info.mode & 0o7777, header.path).toBe(header.mode ?? (header.type === 'directory' ? 0o755 : 0o644));
        expect(info.mtimeMs, header.path).toBe(mtimeMs);
        if (body !== undefined) expect((await readFile(join(out, header.path))).equals(body), header.path).toBe(true);
      }
      if (isRoot) expect(await stat('big.bin')).toMatchObject({ uid: 3_000_000, gid: 4_000_000 });
      expect(await readlink(join(out, 'link'))).toBe('dir/setuid');
      expect(await readlink(join(out, 'longlink'))).toBe(`../${'t'.repeat(150)}`);
      expect((await stat('hard')).ino).toBe((await stat('dir/setuid')).ino);

      // GNU tar has no way to print an xattr; it archives them, though, and we read that back.
      const again = join(root, 'again.tar');
      tar(['-cf', again, '--format=pax', '--xattrs', '-C', out, 'attrs']);
      const [attrs] = await readFileEntries(again);
      expect(attrs!.header.xattrs.get('user.cowstack')).toEqual(new Uint8Array(Buffer.from('on')));
    });
  });

  describe('archives GNU tar writes', () => {
    /** `base/` fits every format; `extended/` needs GNU or pax (long names and targets, a big uid). */
    let tree: string;
    const expectedUid = new Map<string, number>();

    beforeAll(async () => {
      tree = join(root, 'tree');
      const base = join(tree, 'base');
      const extended = join(tree, 'extended');
      await mkdir(join(base, 'dir'), { recursive: true });
      await mkdir(join(extended, 'a'.repeat(100), 'b'.repeat(100)), { recursive: true });
      await writeFile(join(base, 'dir', 'file.txt'), 'hello');
      await chmod(join(base, 'dir', 'file.txt'), 0o4750);
      await chmod(join(base, 'dir'), 0o2755);
      await writeFile(join(base, 'empty'), '');
      await writeFile(join(base, 'ünïcødé.txt'), 'utf-8 name in plain ustar');
      // 3 MiB, mostly holes: seven pieces of data, more than an old GNU sparse header's map holds.
      const sparse = await open(join(base, 'sparse.bin'), 'w');
      for (let offset = 0; offset <= 3 * MiB; offset += MiB / 2 + 17) await sparse.write(`data@${offset}`, offset);
      await sparse.close();
      await symlink('dir/file.txt', join(base, 'link'));
      await link(join(base, 'dir', 'file.txt'), join(base, 'hard'));
      await writeFile(join(extended, 'a'.repeat(100), 'b'.repeat(100), `${'c'.repeat(100)}.txt`), 'deep');
      await symlink(`../${'x'.repeat(200)}`, join(extended, 'longlink'));
      await writeFile(join(extended, 'bigid'), 'owned');
      if (isRoot) {
        await chown(join(extended, 'bigid'), 3_000_000, 3_000_001);
        expectedUid.set('extended/bigid', 3_000_000);
      }
      await utimes(join(base, 'empty'), 1_600_000_000.25, 1_600_000_000.25);
    });

    /** The tree below `dirs` as the file system has it: path → header fields and content hash. */
    async function walk(dirs: string[]): Promise<Map<string, { type: string; mode: number; size: number; sha: string; linkTarget: string; mtimeMs: number; uid: number }>> {
      const found = new Map();
      const visit = async (relative: string): Promise<void> => {
        const full = join(tree, relative);
        const info = await lstat(full);
        const type = info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : 'file';
        const data = type === 'file' ? await readFile(full) : new Uint8Array(0);
        found.set(relative, {
          type, mode: info.mode & 0o7777, size: data.length, sha: sha(data), mtimeMs: info.mtimeMs, uid: info.uid,
          linkTarget: type === 'symlink' ? await readlink(full) : '',
        });
        if (type === 'directory') for (const name of await readdir(full)) await visit(join(relative, name));
      };
      for (const dir of dirs) await visit(dir);
      return found;
    }

    const cases: Array<{ format: string; gzip: boolean; dirs: string[] }> = [
      { format: 'gnu', gzip: false, dirs: ['base', 'extended'] },
      { format: 'gnu', gzip: true, dirs: ['base', 'extended'] },
      { format: 'pax', gzip: false, dirs: ['base', 'extended'] },
      { format: 'pax', gzip: true, dirs: ['base', 'extended'] },
      { format: 'ustar', gzip: false, dirs: ['base'] },
      { format: 'v7', gzip: false, dirs: ['base/dir', 'base/empty', 'base/link', 'base/hard', 'base/sparse.bin'] },
    ];

    for (const { format, gzip, dirs } of cases) {
      it(`--format=${format}${gzip ? ' gzip' : ''}: reads every entry as the file system has it`, async () => {
        const file = join(root, `gnu-${format}${gzip ? '.tar.gz' : '.tar'}`);
        tar(['-c', `--format=${format}`, ...(gzip ? ['-z'] : []), '-f', file, '-C', tree, ...dirs]);
        const expected = await walk(dirs);
        const entries = await readFileEntries(file);
        expect(entries.map((entry) => normal(entry.header.path)).sort()).toEqual([...expected.keys()].sort());
        const files = new Map<string, string>();
        for (const { header, sha: bodySha } of entries) {
          const path = normal(header.path);
          const want = expected.get(path)!;
          if (header.type === 'hardlink') {
            // GNU archives the first name of a file and links the second to it.
            expect(files.get(normal(header.linkTarget)), path).toBe(want.sha);
            expect(header.size).toBe(0);
            continue;
          }
          files.set(path, bodySha);
          expect(header.type, path).toBe(want.type);
          expect(header.mode, path).toBe(want.mode);
          expect([header.size, bodySha, header.linkTarget], path).toEqual([want.size, want.sha, want.linkTarget]);
          // pax keeps the fraction of a second; the other formats keep whole seconds.
          // pax keeps the time to the millisecond (finer digits dropped), the others whole seconds.
          const unit = format === 'pax' ? 1 : 1000;
          expect(header.mtimeMs, path).toBe(Math.floor(want.mtimeMs / unit) * unit);
          expect(header.uid, path).toBe(expectedUid.get(path) ?? want.uid);
          if (format !== 'v7') expect(header.uname, path).toBe(want.uid === 0 ? 'root' : '');
        }
      });
    }

    for (const [format, version] of [['gnu', undefined], ['pax', '0.0'], ['pax', '0.1'], ['pax', '1.0']] as const) {
      it(`--sparse --format=${format}${version === undefined ? '' : ` ${version}`}: sparse files are unsupported, the rest reads on`, async () => {
        const file = join(root, `sparse-${format}-${version ?? ''}.tar`);
        const sparseArgs = version === undefined ? [] : [`--sparse-version=${version}`];
        tar(['-c', '--sparse', ...sparseArgs, `--format=${format}`, '-f', file, '-C', join(tree, 'base'), 'sparse.bin', 'empty']);
        const entries = await readFileEntries(file);
        expect(entries.map(({ header }) => [header.path.replace(/^.*\//, ''), header.type])).toEqual([
          ['sparse.bin', 'unsupported'], ['empty', 'file'],
        ]);
      });
    }
  });
});
