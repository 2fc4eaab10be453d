import type { Readable, Writable } from 'node:stream';
import type { FileHandle } from './FileHandle.js';
import type { Dirent, Stats } from './Stats.js';

/** Flags `open` takes, as `node:fs`. */
export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx' | 'wx+' | 'a' | 'a+' | 'ax' | 'ax+';

/** A time as `fs.utimes` takes it: a `Date`, seconds since the epoch, or a numeric string. */
export type TimeLike = Date | number | string;

/**
 * A mounted snapshot with `node:fs/promises` shapes (shared/API.md, "Layer").
 *
 * Paths are POSIX and absolute inside the layer; a relative path starts at `/`; `..` at `/`
 * stays at `/`; symbolic links resolve inside the layer (an absolute target from its root), with
 * `ELOOP` past 40 links. No umask: a mode given is stored as given; defaults are `0o644` for a
 * file, `0o755` for a directory, `0o777` for a symbolic link; new entries belong to 0:0.
 *
 * Rules every method keeps:
 * - Calls on one layer take effect in the order they were made; layers of one store may be used
 *   concurrently; nothing written to one layer is visible in another except through a committed
 *   snapshot made from it.
 * - A write of any kind to a read-only layer rejects with `EROFS`; any call on a layer whose
 *   snapshot was committed without `keep` or removed, or whose store was closed, with `EBADF`.
 * - Errors are `node:fs` shaped: `code`, `syscall`, `path`; a name beginning with `.wh.` cannot
 *   be created (`EINVAL`); `link` to a directory is `EPERM`; `rename` never rejects with `EXDEV`.
 * - A write copies only the blocks it touches.
 */
export interface Layer {
  readonly key: string;
  readonly readOnly: boolean;
  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: BufferEncoding): Promise<string>;
  readFile(path: string, options: { encoding: BufferEncoding }): Promise<string>;
  writeFile(path: string, data: string | Uint8Array, options?: { mode?: number } | BufferEncoding): Promise<void>;
  appendFile(path: string, data: string | Uint8Array): Promise<void>;
  open(path: string, flags?: OpenFlags, mode?: number): Promise<FileHandle>;
  truncate(path: string, len?: number): Promise<void>;
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  link(existing: string, newPath: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  utimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void>;
  /** As `chown`, on a symbolic link itself (not named in API.md; what image import needs). */
  lchown(path: string, uid: number, gid: number): Promise<void>;
  /** As `utimes`, on a symbolic link itself. */
  lutimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void>;
  access(path: string, mode?: number): Promise<void>;
  createReadStream(path: string, options?: { start?: number; end?: number; highWaterMark?: number }): Readable;
  createWriteStream(path: string, options?: { start?: number; flags?: OpenFlags }): Writable;
  /** Durable on disk when it resolves (a disk store); orders after every earlier call. */
  sync(): Promise<void>;
}
