import { describe, expect, it } from 'vitest';
import { ModelError, ReferenceFs } from './ReferenceFs.js';
import { StoreModel } from './StoreModel.js';

/** The oracle's own examples: each states a rule of API.md or Linux the model must follow. */

function codeOf(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    if (error instanceof ModelError) return error.codes.join('|');
    throw error;
  }
}

function tree(fs: ReferenceFs): string[] {
  return fs.tree().map((e) => `${e.path} ${e.type} ${e.mode.toString(8)} n${e.nlink}${e.data ? ` ${e.data.toString('latin1')}` : ''}${e.target ? ` -> ${e.target}` : ''}`);
}

describe('ReferenceFs', () => {
  it('starts as an empty 0o755 root owned by 0:0', () => {
    const fs = new ReferenceFs();
    expect(fs.stat('/')).toMatchObject({ type: 'dir', mode: 0o40755, uid: 0, gid: 0, nlink: 2 });
    expect(fs.readdir('/')).toEqual([]);
  });

  it('takes relative paths from /, and .. at / stays at /', () => {
    const fs = new ReferenceFs();
    fs.mkdir('a');
    fs.writeFile('a/f', Buffer.from('x'));
    expect(fs.readFile('/a/f').toString()).toBe('x');
    expect(fs.readFile('../../a/./f').toString()).toBe('x');
    expect(fs.readFile('/a//f').toString()).toBe('x');
  });

  it('uses default modes 0o644, 0o755, 0o777 and stores a given mode as given', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.alloc(0));
    fs.mkdir('d');
    fs.symlink('f', 'l');
    fs.writeFile('g', Buffer.alloc(0), 0o600);
    fs.mkdir('e', { mode: 0o700 });
    expect(fs.lstat('f').mode).toBe(0o100644);
    expect(fs.lstat('d').mode).toBe(0o40755);
    expect(fs.lstat('l').mode).toBe(0o120777);
    expect(fs.lstat('g').mode).toBe(0o100600);
    expect(fs.lstat('e').mode).toBe(0o40700);
    fs.writeFile('g', Buffer.from('y'), 0o777);
    expect(fs.lstat('g').mode).toBe(0o100600);
  });

  it('rejects .wh. names with EINVAL', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.alloc(0));
    expect(codeOf(() => fs.writeFile('.wh.x', Buffer.alloc(0)))).toBe('EINVAL');
    expect(codeOf(() => fs.mkdir('.wh..wh..opq'))).toBe('EINVAL');
    expect(codeOf(() => fs.symlink('f', '.wh.f'))).toBe('EINVAL');
    expect(codeOf(() => fs.link('f', '.wh.f'))).toBe('EINVAL');
    expect(codeOf(() => fs.rename('f', '.wh.f'))).toBe('EINVAL');
  });

  it('resolves symlinks inside the layer: relative from the link, absolute from the root, .. physically', () => {
    const fs = new ReferenceFs();
    fs.mkdir('a/b', { recursive: true });
    fs.writeFile('a/b/f', Buffer.from('deep'));
    fs.writeFile('a/f', Buffer.from('shallow'));
    fs.writeFile('f', Buffer.from('top'));
    fs.symlink('/a/b', 'l');
    fs.symlink('b/f', 'a/rel');
    expect(fs.readFile('l/f').toString()).toBe('deep');
    expect(fs.readFile('l/../f').toString()).toBe('shallow'); // physical: /a/b/.. is /a
    expect(fs.readFile('a/rel').toString()).toBe('deep');
    fs.symlink('../../../../f', 'a/b/up');
    expect(fs.readFile('a/b/up').toString()).toBe('top'); // cannot climb past the root
  });

  it('reports ELOOP after 40 links, and follows exactly 40', () => {
    const fs = new ReferenceFs();
    fs.symlink('l0', 'l0');
    expect(codeOf(() => fs.readFile('l0'))).toBe('ELOOP');
    expect(codeOf(() => fs.lstat('l0'))).toBeUndefined();
    const chain = new ReferenceFs();
    chain.writeFile('f', Buffer.from('end'));
    for (let i = 1; i <= 41; i++) chain.symlink(i === 1 ? 'f' : `c${i - 1}`, `c${i}`);
    expect(chain.readFile('c40').toString()).toBe('end');
    expect(codeOf(() => chain.readFile('c41'))).toBe('ELOOP');
  });

  it('gives POSIX errors for missing parents, file components, directories read as files', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.from('x'));
    fs.mkdir('d');
    expect(codeOf(() => fs.readFile('nope'))).toBe('ENOENT');
    expect(codeOf(() => fs.writeFile('no/f', Buffer.alloc(0)))).toBe('ENOENT');
    expect(codeOf(() => fs.writeFile('f/x', Buffer.alloc(0)))).toBe('ENOTDIR');
    expect(codeOf(() => fs.readFile('d'))).toBe('EISDIR');
    expect(codeOf(() => fs.writeFile('d', Buffer.alloc(0)))).toBe('EISDIR');
    expect(codeOf(() => fs.mkdir('d'))).toBe('EEXIST');
    expect(codeOf(() => fs.mkdir('f', { recursive: true }))).toBe('EEXIST');
    expect(codeOf(() => fs.mkdir('f/x', { recursive: true }))).toBe('ENOTDIR');
    expect(codeOf(() => fs.readdir('f'))).toBe('ENOTDIR');
    expect(codeOf(() => fs.unlink('d'))).toBe('EISDIR');
    expect(codeOf(() => fs.rmdir('f'))).toBe('ENOTDIR');
    expect(codeOf(() => fs.readlink('f'))).toBe('EINVAL');
    expect(codeOf(() => fs.rm('d'))).toBe('EISDIR');
  });

  it('creates the target of a dangling symlink on write, and wx refuses any existing name', () => {
    const fs = new ReferenceFs();
    fs.symlink('target', 'l');
    fs.writeFile('l', Buffer.from('via link'));
    expect(fs.readFile('target').toString()).toBe('via link');
    fs.symlink('nowhere', 'd');
    expect(codeOf(() => fs.open('d', 'wx'))).toBe('EEXIST');
    expect(codeOf(() => fs.open('d', 'r+'))).toBe('ENOENT');
  });

  it('writes past the end leave zeros, truncate extends with zeros, append ignores the position', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.from('ab'));
    fs.open('f', 'r+').write(Buffer.from('z'), 5);
    expect(fs.readFile('f')).toEqual(Buffer.from('ab\0\0\0z'));
    fs.truncate('f', 8);
    expect(fs.readFile('f')).toEqual(Buffer.from('ab\0\0\0z\0\0'));
    fs.truncate('f', 1);
    expect(fs.readFile('f').toString()).toBe('a');
    fs.open('f', 'a').write(Buffer.from('q'), 0);
    expect(fs.readFile('f').toString()).toBe('aq');
  });

  it('mkdir -p creates ancestors with the mode, accepts an existing directory or a symlink to one', () => {
    const fs = new ReferenceFs();
    fs.mkdir('a/b/c', { recursive: true, mode: 0o700 });
    expect(tree(fs)).toEqual(['/ dir 40755 n3', '/a dir 40700 n3', '/a/b dir 40700 n3', '/a/b/c dir 40700 n2']);
    fs.symlink('a', 'l');
    fs.mkdir('l', { recursive: true });
    fs.mkdir('l/b/c', { recursive: true });
    fs.symlink('nowhere', 'dangling');
    expect(codeOf(() => fs.mkdir('dangling', { recursive: true }))).toBe('ENOENT');
    expect(codeOf(() => fs.mkdir('dangling'))).toBe('EEXIST');
    expect(codeOf(() => fs.mkdir('dangling/x', { recursive: true }))).toBe('ENOTDIR|ENOENT');
  });

  it('rm: force forgives only ENOENT, recursive removes a subtree without following symlinks', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.from('x'));
    fs.mkdir('d/e', { recursive: true });
    fs.symlink('/d', 'd/e/up');
    fs.link('f', 'd/hard');
    fs.rm('nope', { force: true });
    expect(codeOf(() => fs.rm('nope'))).toBe('ENOENT');
    expect(codeOf(() => fs.rm('f/x', { force: true }))).toBe('ENOTDIR');
    fs.rm('d', { recursive: true });
    expect(tree(fs)).toEqual(['/ dir 40755 n2', '/f file 100644 n1 x']);
  });

  describe('rename', () => {
    const setup = (): ReferenceFs => {
      const fs = new ReferenceFs();
      fs.mkdir('a/b', { recursive: true });
      fs.mkdir('e');
      fs.writeFile('a/f', Buffer.from('1'));
      fs.writeFile('g', Buffer.from('2'));
      return fs;
    };

    it('moves files and directories across directories, replacing a file or an empty directory', () => {
      const fs = setup();
      fs.rename('a/f', 'e/f');
      fs.rename('a/b', 'e/b');
      fs.rename('g', 'e/f');
      fs.mkdir('x');
      fs.rename('e', 'x');
      expect(tree(fs)).toEqual(['/ dir 40755 n4', '/a dir 40755 n2', '/x dir 40755 n3', '/x/b dir 40755 n2', '/x/f file 100644 n1 2']);
    });

    it('rejects as Linux does', () => {
      const fs = setup();
      expect(codeOf(() => fs.rename('a', 'e'))).toBeUndefined();
      const t = setup();
      expect(codeOf(() => t.rename('a', 'a/b/c'))).toBe('EINVAL');
      expect(codeOf(() => t.rename('a/f', 'a'))).toBe('ENOTEMPTY');
      expect(codeOf(() => t.rename('a/b', 'a'))).toBe('ENOTEMPTY');
      expect(codeOf(() => t.rename('g', 'e'))).toBe('EISDIR');
      expect(codeOf(() => t.rename('e', 'g'))).toBe('ENOTDIR');
      t.writeFile('e/x', Buffer.alloc(0));
      expect(codeOf(() => t.rename('a/b', 'e'))).toBe('ENOTEMPTY');
      expect(codeOf(() => t.rename('nope', 'e/y'))).toBe('ENOENT');
      expect(codeOf(() => t.rename('g', 'nope/y'))).toBe('ENOENT');
      expect(codeOf(() => t.rename('g', 'g/y'))).toBe('ENOTDIR');
    });

    it('is a no-op onto itself or onto another hard link of the same inode', () => {
      const fs = setup();
      const before = tree(fs);
      fs.rename('g', 'g');
      fs.rename('a', 'a');
      expect(tree(fs)).toEqual(before);
      fs.link('g', 'h');
      fs.rename('g', 'h');
      expect(fs.readdir('/').map((e) => e.name)).toEqual(['a', 'e', 'g', 'h']);
    });
  });

  it('hard links share one inode: a write through one name shows through the other', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.from('one'));
    fs.link('f', 'g');
    fs.open('g', 'r+').write(Buffer.from('T'), 0);
    expect(fs.readFile('f').toString()).toBe('Tne');
    expect(fs.stat('f').nlink).toBe(2);
    expect(fs.stat('f').ino).toBe(fs.stat('g').ino);
    fs.unlink('f');
    expect(fs.stat('g').nlink).toBe(1);
    fs.mkdir('d');
    expect(codeOf(() => fs.link('d', 'e'))).toBe('EPERM');
    expect(codeOf(() => fs.link('d', 'g'))).toBe('EEXIST'); // Linux's order: the taken name first
  });

  it('clones deeply, keeping hard links', () => {
    const fs = new ReferenceFs();
    fs.writeFile('f', Buffer.from('one'));
    fs.link('f', 'g');
    const copy = fs.clone();
    copy.writeFile('f', Buffer.from('two'));
    expect(fs.readFile('g').toString()).toBe('one');
    expect(copy.readFile('g').toString()).toBe('two');
  });
});

describe('StoreModel', () => {
  it('follows containerd: prepare, commit with and without keep, view, remove', () => {
    const m = new StoreModel();
    const base = m.prepare('c1');
    base.fs.writeFile('f', Buffer.from('x'));
    const img = m.commit('img', 'c1', false);
    expect(m.snapshots.has('c1')).toBe(false);
    expect(img.fs.readFile('f').toString()).toBe('x');
    const c2 = m.prepare('c2', 'img');
    c2.fs.writeFile('f', Buffer.from('y'));
    expect(img.fs.readFile('f').toString()).toBe('x');
    m.commit('snap', 'c2', true);
    expect(m.snapshots.get('c2')!.parent).toBe('snap');
    expect(m.snapshots.get('snap')!.parent).toBe('img');
    expect(codeOf(() => m.prepare('c3', 'c2'))).toBe('EINVAL');
    expect(codeOf(() => m.prepare('c2', 'nope'))).toBe('EEXIST|ENOENT');
    expect(codeOf(() => m.commit('x', 'snap', false))).toBe('EINVAL');
    expect(codeOf(() => m.remove('img'))).toBe('ENOTEMPTY');
    const v = m.view('v', 'img');
    expect(v.kind).toBe('view');
    expect(codeOf(() => m.prepare('c4', 'v'))).toBe('EINVAL');
  });

  it('kills layers of a committed-without-keep or removed snapshot, even when the key is reused', () => {
    const m = new StoreModel();
    const s = m.prepare('k');
    const handle = { key: 'k', snapshotId: s.id, readOnly: false };
    m.commit('c', 'k', false);
    m.prepare('k');
    expect(m.onLayer(handle, 'read', (fs) => fs.readdir('/'))).toEqual({ codes: ['EBADF'] });
  });

  it('lets a read-only layer answer EROFS, or a no-op with success', () => {
    const m = new StoreModel();
    m.prepare('k');
    m.commit('c', 'k', false);
    const v = m.view('v', 'c');
    const handle = { key: 'v', snapshotId: v.id, readOnly: true };
    expect(m.onLayer(handle, 'write', (fs) => fs.writeFile('f', Buffer.alloc(0))).codes).toEqual(['EROFS']);
    expect(m.onLayer(handle, 'write', (fs) => fs.unlink('f')).codes).toEqual(['EROFS', 'ENOENT']);
    expect(m.onLayer(handle, 'write-may-noop', (fs) => fs.mkdir('/', { recursive: true }))).toMatchObject({ success: {}, codes: ['EROFS'] });
    expect(v.fs.readdir('/')).toEqual([]);
  });
});
