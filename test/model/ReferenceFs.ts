/**
 * A deliberately plain, obviously-correct in-memory filesystem: the oracle one snapshot's tree is
 * compared against. No blocks, no sharing, no cleverness: an inode table and one `Map` of names per
 * directory, so hard links share one inode exactly as on ext4.
 *
 * Semantics follow shared/API.md; where it is silent, Linux as `node:fs/promises` reports it on
 * ext4 (each such choice is commented where it is made). Times are not modelled: the tests
 * compare everything but times.
 *
 * Every operation is atomic: it validates everything first and mutates only when it cannot fail
 * any more, so a rejected call leaves the tree untouched (the tests rely on this).
 */

export type NodeType = 'file' | 'dir' | 'symlink';

export interface Inode {
  readonly ino: number;
  readonly type: NodeType;
  /** Permission bits only (`& 0o7777`); the type bits are added by `stat`. */
  mode: number;
  uid: number;
  gid: number;
  /** Regular files: the contents. */
  data: Buffer;
  /** Symbolic links: the target, verbatim. */
  target: string;
  /** Directories: name → ino. */
  entries: Map<string, number>;
  /** Names pointing at a non-directory; directories compute theirs (see `nlinkOf`). */
  links: number;
}

/** The type bits of `st_mode`, as `fs.constants`. */
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

const TYPE_BITS: Record<NodeType, number> = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK };

/** Linux's MAXSYMLINKS: the 41st link followed in one lookup fails with ELOOP (API.md: "more than 40"). */
export const MAX_SYMLINKS = 40;

export const DEFAULT_FILE_MODE = 0o644;
export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_SYMLINK_MODE = 0o777;

const ROOT = 1;

/**
 * A rejected model call. `codes[0]` is the code Linux would give; further codes are other answers
 * the tests accept where API.md leaves the precedence of two applicable errors open.
 */
export class ModelError extends Error {
  readonly codes: readonly string[];
  readonly syscall: string;
  readonly path: string | undefined;

  constructor(codes: string | readonly string[], syscall: string, path?: string) {
    const list = typeof codes === 'string' ? [codes] : codes;
    super(`${list.join('|')}: ${syscall}${path === undefined ? '' : ` '${path}'`}`);
    this.codes = list;
    this.syscall = syscall;
    this.path = path;
  }

  get code(): string {
    return this.codes[0]!;
  }
}

export interface ModelStats {
  type: NodeType;
  /** Type bits included, as `fs.Stats.mode`. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  /** Bytes for files, the target's byte length for symlinks; `undefined` for directories, whose size ext4 and the engine may count differently and API.md does not fix. */
  size: number | undefined;
  ino: number;
}

/** One entry of a tree listing: what the tests compare, everything but times. */
export interface TreeEntry {
  path: string;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number | undefined;
  /** Files: the contents. */
  data: Buffer | undefined;
  /** Symlinks: the target. */
  target: string | undefined;
  /** Non-directories: the first path (in listing order) naming the same inode. */
  linkGroup: string | undefined;
}

type Found = { found: true; node: Inode; parent: Inode | undefined; name: string; stack: readonly number[] };
type Missing = { found: false; parent: Inode; name: string; stack: readonly number[] };
type Lookup = Found | Missing;

/**
 * The components of a path. A relative path is taken from `/` (API.md); empty components (`a//b`)
 * are ignored as the kernel does; `.` and `..` are kept and resolved during the walk, physically,
 * after symlinks, as POSIX does (`l/..` where `l -> /x/y` is `/x`, not `/`).
 */
export function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

/** True when `name` may not be created: OCI reserves the `.wh.` prefix (API.md, EINVAL). */
export function isWhiteoutName(name: string): boolean {
  return name.startsWith('.wh.');
}

export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx' | 'a' | 'a+';

interface FlagBits {
  read: boolean;
  write: boolean;
  create: boolean;
  excl: boolean;
  trunc: boolean;
  append: boolean;
}

const FLAGS: Record<OpenFlags, FlagBits> = {
  r: { read: true, write: false, create: false, excl: false, trunc: false, append: false },
  'r+': { read: true, write: true, create: false, excl: false, trunc: false, append: false },
  w: { read: false, write: true, create: true, excl: false, trunc: true, append: false },
  'w+': { read: true, write: true, create: true, excl: false, trunc: true, append: false },
  wx: { read: false, write: true, create: true, excl: true, trunc: true, append: false },
  a: { read: false, write: true, create: true, excl: false, trunc: false, append: true },
  'a+': { read: true, write: true, create: true, excl: false, trunc: false, append: true },
};

/**
 * An open file of the model: an inode and the open flags, as a file description. Positional
 * reads and writes only (the tests always pass a position), except that in append mode Linux
 * ignores the position of `pwrite` and appends (see pwrite(2), BUGS), and so does the model.
 */
export class ModelFileHandle {
  readonly #fs: ReferenceFs;
  readonly #node: Inode;
  readonly #flags: FlagBits;

  constructor(fs: ReferenceFs, node: Inode, flags: FlagBits) {
    this.#fs = fs;
    this.#node = node;
    this.#flags = flags;
  }

  /** read(2): EISDIR on a directory (opening one with `r` succeeds on Linux), EBADF when not open for reading. */
  read(length: number, position: number): Buffer {
    if (!this.#flags.read) throw new ModelError('EBADF', 'read');
    if (this.#node.type === 'dir') throw new ModelError('EISDIR', 'read');
    const data = this.#node.data;
    if (position >= data.length) return Buffer.alloc(0);
    return Buffer.from(data.subarray(position, Math.min(data.length, position + length)));
  }

  /** pwrite(2): a write past the end leaves a gap of zeros. */
  write(bytes: Uint8Array, position: number): number {
    if (!this.#flags.write) throw new ModelError('EBADF', 'write');
    const at = this.#flags.append ? this.#node.data.length : position;
    this.#node.data = writeAt(this.#node.data, bytes, at);
    return bytes.length;
  }

  /** ftruncate(2): EINVAL when not open for writing (Linux). */
  truncate(len: number): void {
    if (!this.#flags.write) throw new ModelError('EINVAL', 'ftruncate');
    this.#node.data = resize(this.#node.data, len);
  }

  stat(): ModelStats {
    return this.#fs.statOf(this.#node);
  }
}

function writeAt(data: Buffer, bytes: Uint8Array, at: number): Buffer {
  const out = Buffer.alloc(Math.max(data.length, at + bytes.length));
  data.copy(out, 0);
  out.set(bytes, at);
  return out;
}

/** truncate(2): shrinking cuts, extending appends zeros. */
function resize(data: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  data.copy(out, 0, 0, Math.min(len, data.length));
  return out;
}

export class ReferenceFs {
  readonly #inodes = new Map<number, Inode>();
  #nextIno = ROOT + 1;

  /** An empty tree: a root directory `0o755`, owned by 0:0 (API.md). */
  constructor() {
    this.#inodes.set(ROOT, newInode(ROOT, 'dir', DEFAULT_DIR_MODE));
  }

  /** A deep copy; inode numbers are kept, so hard links stay hard links. */
  clone(): ReferenceFs {
    const copy = new ReferenceFs();
    copy.#inodes.clear();
    for (const [ino, node] of this.#inodes) {
      copy.#inodes.set(ino, {
        ...node,
        data: Buffer.from(node.data),
        entries: new Map(node.entries),
      });
    }
    copy.#nextIno = this.#nextIno;
    return copy;
  }

  // ---- lookup ------------------------------------------------------------------------------

  #node(ino: number): Inode {
    const node = this.#inodes.get(ino);
    if (node === undefined) throw new Error(`model corrupt: no inode ${ino}`);
    return node;
  }

  /**
   * Resolves `path` component by component, as the kernel's path walk does. Intermediate symlinks
   * are always followed; the final one only when `followFinal`. A relative target resolves from
   * the directory holding the link, an absolute one from the layer's root; `..` at the root stays
   * at the root. Rejects with ENOENT (a missing intermediate), ENOTDIR (an intermediate that is
   * not a directory), ELOOP (more than 40 links followed).
   *
   * `stack` is the chain of directory inodes from the root to the directory holding the final
   * name: what `rename` needs to tell ancestors apart.
   */
  #lookup(path: string, followFinal: boolean, syscall: string): Lookup {
    const queue = splitPath(path);
    let stack: number[] = [ROOT];
    let links = 0;
    if (queue.length === 0) return { found: true, node: this.#node(ROOT), parent: undefined, name: '', stack: [] };
    for (;;) {
      const comp = queue.shift()!;
      const last = queue.length === 0;
      const dir = this.#node(stack[stack.length - 1]!);
      if (comp === '.' || comp === '..') {
        if (comp === '..' && stack.length > 1) stack = stack.slice(0, -1);
        if (last) {
          const node = this.#node(stack[stack.length - 1]!);
          return { found: true, node, parent: undefined, name: comp, stack: stack.slice(0, -1) };
        }
        continue;
      }
      const childIno = dir.entries.get(comp);
      if (childIno === undefined) {
        if (last) return { found: false, parent: dir, name: comp, stack };
        throw new ModelError('ENOENT', syscall, path);
      }
      const child = this.#node(childIno);
      if (child.type === 'symlink' && (!last || followFinal)) {
        if (++links > MAX_SYMLINKS) throw new ModelError('ELOOP', syscall, path);
        // Linux: an empty target never gets created (symlink rejects it), so it is not handled.
        if (child.target.startsWith('/')) stack = [ROOT];
        const targetComps = splitPath(child.target);
        if (targetComps.length === 0) {
          // The target is `/`: the lookup continues from the root.
          if (queue.length === 0) return { found: true, node: this.#node(ROOT), parent: undefined, name: '', stack: [] };
          continue;
        }
        queue.unshift(...targetComps);
        continue;
      }
      if (last) return { found: true, node: child, parent: dir, name: comp, stack };
      if (child.type !== 'dir') throw new ModelError('ENOTDIR', syscall, path);
      stack = [...stack, childIno];
    }
  }

  /**
   * The parent directory of a path's final component, for calls that create or remove a name
   * and never follow that name (mkdir, rmdir, unlink, rename, symlink, link). The final
   * component of such a path is never `.` or `..` in the tests (Linux answers EEXIST, EINVAL,
   * EBUSY or ENOTEMPTY there, none of which the tests exercise).
   */
  #lookupNoFollow(path: string, syscall: string): Lookup {
    const result = this.#lookup(path, false, syscall);
    if (result.name === '.' || result.name === '..' || result.name === '') {
      throw new Error(`model: ${syscall} on '${path}' (root, . or ..) is outside what the tests exercise`);
    }
    return result;
  }

  // ---- inode bookkeeping -------------------------------------------------------------------

  #create(parent: Inode, name: string, type: NodeType, mode: number): Inode {
    const node = newInode(this.#nextIno++, type, mode);
    this.#inodes.set(node.ino, node);
    parent.entries.set(name, node.ino);
    node.links = 1;
    return node;
  }

  /** Drops one name of `ino` (the caller has removed the entry); frees the inode with its last name. */
  #dropName(ino: number): void {
    const node = this.#node(ino);
    if (node.type === 'dir') {
      for (const child of node.entries.values()) this.#dropName(child);
      this.#inodes.delete(ino);
      return;
    }
    node.links -= 1;
    if (node.links === 0) this.#inodes.delete(ino);
  }

  /** ext4's st_nlink: a file's names; a directory's is 2 + its subdirectories. */
  #nlinkOf(node: Inode): number {
    if (node.type !== 'dir') return node.links;
    let subdirs = 0;
    for (const ino of node.entries.values()) if (this.#node(ino).type === 'dir') subdirs++;
    return 2 + subdirs;
  }

  statOf(node: Inode): ModelStats {
    return {
      type: node.type,
      mode: TYPE_BITS[node.type] | node.mode,
      uid: node.uid,
      gid: node.gid,
      nlink: this.#nlinkOf(node),
      size: node.type === 'file' ? node.data.length : node.type === 'symlink' ? Buffer.byteLength(node.target) : undefined,
      ino: node.ino,
    };
  }

  #checkCreatable(name: string, syscall: string, path: string): void {
    if (isWhiteoutName(name)) throw new ModelError('EINVAL', syscall, path);
  }

  // ---- reading -----------------------------------------------------------------------------

  /** readFile: follows links; EISDIR on a directory (node opens it, then read(2) fails). */
  readFile(path: string): Buffer {
    const r = this.#lookup(path, true, 'open');
    if (!r.found) throw new ModelError('ENOENT', 'open', path);
    if (r.node.type === 'dir') throw new ModelError('EISDIR', 'read', path);
    return Buffer.from(r.node.data);
  }

  stat(path: string): ModelStats {
    const r = this.#lookup(path, true, 'stat');
    if (!r.found) throw new ModelError('ENOENT', 'stat', path);
    return this.statOf(r.node);
  }

  lstat(path: string): ModelStats {
    const r = this.#lookup(path, false, 'lstat');
    if (!r.found) throw new ModelError('ENOENT', 'lstat', path);
    return this.statOf(r.node);
  }

  /** access(F_OK): follows links. */
  access(path: string): void {
    this.stat(path);
  }

  /** readdir: follows links; ENOTDIR on anything but a directory; names sorted (API.md). */
  readdir(path: string): { name: string; type: NodeType }[] {
    const r = this.#lookup(path, true, 'scandir');
    if (!r.found) throw new ModelError('ENOENT', 'scandir', path);
    if (r.node.type !== 'dir') throw new ModelError('ENOTDIR', 'scandir', path);
    return [...r.node.entries]
      .map(([name, ino]) => ({ name, type: this.#node(ino).type }))
      .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  }

  /** readlink: the final component is not followed; EINVAL when it is not a symlink (Linux). */
  readlink(path: string): string {
    const r = this.#lookup(path, false, 'readlink');
    if (!r.found) throw new ModelError('ENOENT', 'readlink', path);
    if (r.node.type !== 'symlink') throw new ModelError('EINVAL', 'readlink', path);
    return r.node.target;
  }

  // ---- files -------------------------------------------------------------------------------

  /**
   * open(2) as node's flags map to it. The final symlink is followed, and with O_CREAT a dangling
   * one creates its target (Linux). With O_EXCL (`wx`) the final component is not followed and
   * anything there, a dangling symlink included, is EEXIST. A directory: `r` opens it (read(2)
   * then fails with EISDIR); any write flag is EISDIR. A missing file without O_CREAT: ENOENT.
   */
  open(path: string, flags: OpenFlags, mode?: number): ModelFileHandle {
    const bits = FLAGS[flags];
    const r = this.#lookup(path, !bits.excl, 'open');
    let node: Inode;
    if (r.found) {
      if (bits.excl) throw new ModelError('EEXIST', 'open', path);
      node = r.node;
      if (node.type === 'dir' && bits.write) throw new ModelError('EISDIR', 'open', path);
      if (bits.trunc && node.type === 'file') node.data = Buffer.alloc(0);
    } else {
      if (!bits.create) throw new ModelError('ENOENT', 'open', path);
      this.#checkCreatable(r.name, 'open', path);
      node = this.#create(r.parent, r.name, 'file', mode ?? DEFAULT_FILE_MODE);
    }
    return new ModelFileHandle(this, node, bits);
  }

  /** writeFile: open 'w' (the mode applies only when the file is created), then the data. */
  writeFile(path: string, data: Uint8Array, mode?: number): void {
    this.open(path, 'w', mode).write(data, 0);
  }

  /** appendFile: open 'a', then the data at the end. */
  appendFile(path: string, data: Uint8Array): void {
    this.open(path, 'a').write(data, 0);
  }

  /** truncate: node opens 'r+' then ftruncate(2); extending fills with zeros. */
  truncate(path: string, len: number): void {
    this.open(path, 'r+').truncate(len);
  }

  // ---- names -------------------------------------------------------------------------------

  /**
   * mkdir(2) without `recursive`: the final component is not followed, anything there (even a
   * dangling symlink) is EEXIST. With `recursive`, the algorithm of node's fs/promises
   * (src/node_file.cc, MKDirpAsync): mkdir each missing ancestor; on EEXIST stat (following
   * links) and accept a directory; anything else is ENOTDIR for an ancestor (a dangling symlink
   * included) and, for the target, stat's error or EEXIST. The mode (no umask, API.md) applies to
   * every directory created.
   */
  mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): void {
    const mode = options.mode ?? DEFAULT_DIR_MODE;
    if (!options.recursive) {
      this.#mkdirOne(path, mode);
      return;
    }
    const absolute = '/' + splitPath(path).join('/');
    const pending = [absolute];
    while (pending.length > 0) {
      const next = pending.pop()!;
      let code: string | undefined;
      try {
        this.#mkdirOne(next, mode);
      } catch (error) {
        if (!(error instanceof ModelError)) throw error;
        code = error.code;
      }
      if (code === undefined) continue;
      if (code === 'ENOTDIR' || code === 'EINVAL') throw new ModelError(code, 'mkdir', path);
      if (code === 'ENOENT') {
        const dirname = next.slice(0, next.lastIndexOf('/'));
        pending.push(next, dirname === '' ? '/' : dirname);
        continue;
      }
      // EEXIST (or ELOOP): stat the path, following links. An ancestor must turn out to be a
      // directory, else ENOTDIR (whatever stat said); the target itself: stat's error, or EEXIST
      // when it is not a directory.
      let stats: ModelStats | undefined;
      let statCode: string | undefined;
      try {
        stats = this.stat(next);
      } catch (error) {
        if (!(error instanceof ModelError)) throw error;
        statCode = error.code;
      }
      if (code === 'EEXIST' && pending.length > 0) {
        if (stats?.type === 'dir') continue;
        // node answers ENOTDIR even when stat failed (an ancestor that is a dangling symlink);
        // stat's own code (ENOENT) is as true an answer, and API.md does not pick: either passes.
        throw new ModelError(statCode === undefined ? 'ENOTDIR' : ['ENOTDIR', statCode], 'mkdir', path);
      }
      if (statCode !== undefined) throw new ModelError(statCode, 'mkdir', path);
      if (stats!.type !== 'dir') throw new ModelError('EEXIST', 'mkdir', path);
    }
  }

  #mkdirOne(path: string, mode: number): void {
    if (splitPath(path).length === 0) throw new ModelError('EEXIST', 'mkdir', path);
    const r = this.#lookupNoFollow(path, 'mkdir');
    if (r.found) throw new ModelError('EEXIST', 'mkdir', path);
    this.#checkCreatable(r.name, 'mkdir', path);
    this.#create(r.parent, r.name, 'dir', mode);
  }

  /** rmdir(2): the final component is not followed (a symlink to a directory is ENOTDIR). */
  rmdir(path: string): void {
    const r = this.#lookupNoFollow(path, 'rmdir');
    if (!r.found) throw new ModelError('ENOENT', 'rmdir', path);
    if (r.node.type !== 'dir') throw new ModelError('ENOTDIR', 'rmdir', path);
    if (r.node.entries.size > 0) throw new ModelError('ENOTEMPTY', 'rmdir', path);
    r.parent!.entries.delete(r.name);
    this.#dropName(r.node.ino);
  }

  /** unlink(2): a directory is EISDIR (Linux; POSIX allows EPERM); a symlink itself is removed. */
  unlink(path: string): void {
    const r = this.#lookupNoFollow(path, 'unlink');
    if (!r.found) throw new ModelError('ENOENT', 'unlink', path);
    if (r.node.type === 'dir') throw new ModelError('EISDIR', 'unlink', path);
    r.parent!.entries.delete(r.name);
    this.#dropName(r.node.ino);
  }

  /**
   * node's `fs.rm`: lstat the path (never following it); a missing path is fine with `force`
   * (only ENOENT is forgiven: ENOTDIR or ELOOP from a parent still reject, as in node's
   * validateRmOptions); a directory without `recursive` is EISDIR (node says ERR_FS_EISDIR,
   * whose errno is EISDIR: API.md's code list has only the latter); otherwise the entry and,
   * for a directory, everything under it. Symlinks inside are removed, never followed.
   */
  rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): void {
    let r: Lookup;
    try {
      r = this.#lookupNoFollow(path, 'rm');
    } catch (error) {
      if (error instanceof ModelError && error.code === 'ENOENT' && options.force) return;
      throw error;
    }
    if (!r.found) {
      if (options.force) return;
      throw new ModelError('ENOENT', 'rm', path);
    }
    if (r.node.type === 'dir' && !options.recursive) throw new ModelError('EISDIR', 'rm', path);
    r.parent!.entries.delete(r.name);
    this.#dropName(r.node.ino);
  }

  /**
   * rename(2), in the order Linux checks (fs/namei.c do_renameat2, then vfs_rename and ext4):
   * 1. both parents resolve (ENOENT, ENOTDIR, ELOOP), source's first;
   * 2. the source exists (ENOENT);
   * 3. the source is not an ancestor of the target's parent (EINVAL: a directory into its own
   *    subtree), and the target is not an ancestor of the source (ENOTEMPTY, the kernel's answer
   *    to `rename('/a/b', '/a')`);
   * 4. source and target are one inode (the same name, or two hard links): nothing happens, both
   *    names stay (POSIX);
   * 5. a directory onto a non-directory is ENOTDIR, a non-directory onto a directory EISDIR;
   * 6. a directory onto a non-empty directory is ENOTEMPTY; onto an empty one replaces it.
   * A `.wh.` target name is EINVAL (API.md); the tests only try one where nothing else fails.
   * Neither final component is followed: a symlink is moved or replaced itself.
   * Never EXDEV (API.md).
   */
  rename(from: string, to: string): void {
    const src = this.#lookupNoFollow(from, 'rename');
    const dst = this.#lookupNoFollow(to, 'rename');
    if (!src.found) throw new ModelError('ENOENT', 'rename', from);
    const srcParent = src.stack[src.stack.length - 1]!;
    const dstParent = dst.stack[dst.stack.length - 1]!;
    if (srcParent !== dstParent) {
      // The source is an ancestor of the target's parent: moving a directory into itself.
      if (dst.stack.includes(src.node.ino)) throw new ModelError('EINVAL', 'rename', from);
      // The target is an ancestor of the source.
      if (dst.found && src.stack.includes(dst.node.ino)) throw new ModelError('ENOTEMPTY', 'rename', to);
    }
    if (dst.found && dst.node.ino === src.node.ino) return;
    if (!dst.found) this.#checkCreatable(dst.name, 'rename', to);
    if (dst.found) {
      if (src.node.type === 'dir' && dst.node.type !== 'dir') throw new ModelError('ENOTDIR', 'rename', to);
      if (src.node.type !== 'dir' && dst.node.type === 'dir') throw new ModelError('EISDIR', 'rename', to);
      if (dst.node.type === 'dir' && dst.node.entries.size > 0) throw new ModelError('ENOTEMPTY', 'rename', to);
      dst.parent!.entries.delete(dst.name);
      this.#dropName(dst.node.ino);
    }
    src.parent!.entries.delete(src.name);
    dst.parent!.entries.set(dst.name, src.node.ino);
  }

  /**
   * symlink(2): the target is stored verbatim and may dangle; anything at the path (even a
   * dangling symlink) is EEXIST. An empty target is ENOENT (Linux).
   */
  symlink(target: string, path: string): void {
    if (target === '') throw new ModelError('ENOENT', 'symlink', path);
    const r = this.#lookupNoFollow(path, 'symlink');
    if (r.found) throw new ModelError('EEXIST', 'symlink', path);
    this.#checkCreatable(r.name, 'symlink', path);
    const node = this.#create(r.parent, r.name, 'symlink', DEFAULT_SYMLINK_MODE);
    node.target = target;
  }

  /**
   * link(2): `existing` is not followed (Linux's link(2) links a symlink itself); a directory is
   * EPERM (API.md), checked last as Linux does: a taken `newPath` (EEXIST), its missing parent
   * (ENOENT, ENOTDIR) or a bad new name come first.
   */
  link(existing: string, newPath: string): void {
    const src = this.#lookupNoFollow(existing, 'link');
    if (!src.found) throw new ModelError('ENOENT', 'link', existing);
    const dst = this.#lookupNoFollow(newPath, 'link');
    if (dst.found) throw new ModelError('EEXIST', 'link', newPath);
    this.#checkCreatable(dst.name, 'link', newPath);
    if (src.node.type === 'dir') throw new ModelError('EPERM', 'link', existing);
    dst.parent.entries.set(dst.name, src.node.ino);
    src.node.links += 1;
  }

  /** chmod(2): follows links; the permission bits are stored as given (no umask, API.md). */
  chmod(path: string, mode: number): void {
    const r = this.#lookup(path, true, 'chmod');
    if (!r.found) throw new ModelError('ENOENT', 'chmod', path);
    r.node.mode = mode & 0o7777;
  }

  /** chown(2): follows links. The tests never set setuid/setgid bits, which Linux would clear here. */
  chown(path: string, uid: number, gid: number): void {
    const r = this.#lookup(path, true, 'chown');
    if (!r.found) throw new ModelError('ENOENT', 'chown', path);
    r.node.uid = uid;
    r.node.gid = gid;
  }

  // ---- listing -----------------------------------------------------------------------------

  /** The whole tree, depth first, names sorted, the root first: what the tests compare. */
  tree(): TreeEntry[] {
    const out: TreeEntry[] = [];
    const groups = new Map<number, string>();
    const visit = (path: string, node: Inode): void => {
      const stats = this.statOf(node);
      let linkGroup: string | undefined;
      if (node.type !== 'dir') {
        linkGroup = groups.get(node.ino) ?? path;
        groups.set(node.ino, linkGroup);
      }
      out.push({
        path,
        type: node.type,
        mode: stats.mode,
        uid: node.uid,
        gid: node.gid,
        nlink: stats.nlink,
        size: stats.size,
        data: node.type === 'file' ? Buffer.from(node.data) : undefined,
        target: node.type === 'symlink' ? node.target : undefined,
        linkGroup,
      });
      if (node.type !== 'dir') return;
      for (const name of [...node.entries.keys()].sort()) {
        visit(path === '/' ? `/${name}` : `${path}/${name}`, this.#node(node.entries.get(name)!));
      }
    };
    visit('/', this.#node(ROOT));
    return out;
  }
}

function newInode(ino: number, type: NodeType, mode: number): Inode {
  return {
    ino,
    type,
    mode: mode & 0o7777,
    uid: 0,
    gid: 0,
    data: Buffer.alloc(0),
    target: '',
    entries: new Map(),
    links: 0,
  };
}
