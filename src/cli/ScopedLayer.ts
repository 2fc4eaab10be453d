import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Dirent, FileHandle, Layer, OpenFlags, Stats, TimeLike } from '../index.js';

/** What a `ScopedLayer` watches for. */
export interface LayerHooks {
  /** Checked before every call: once aborted, every call rejects with its reason. */
  readonly signal?: AbortSignal;
  /** Bytes read through a file handle. */
  readonly onRead?: (bytes: number) => void;
  /** Bytes written through a file handle. */
  readonly onWrite?: (bytes: number) => void;
}

/**
 * A `Layer` seen from one of its directories, with hooks: every path is taken inside `root` (so
 * `/` is `root`, and `..` stops there, as at a layer's own root), every call first checks the
 * signal, and file handles report the bytes they move. It is how the command line gives the
 * API's whole-tree copies (`importTree`'s and `exportTree`'s walks) a progress bar, Ctrl-C, and a
 * subtree (`cp KEY:/dir …`).
 *
 * Symbolic link targets are passed through untouched: an absolute target still resolves from
 * the layer's real root.
 */
export class ScopedLayer implements Layer {
  readonly #inner: Layer;
  readonly #root: string;
  readonly #hooks: LayerHooks;

  constructor(inner: Layer, root = '/', hooks: LayerHooks = {}) {
    this.#inner = inner;
    this.#root = posix.resolve('/', root);
    this.#hooks = hooks;
  }

  get key(): string {
    return this.#inner.key;
  }

  get readOnly(): boolean {
    return this.#inner.readOnly;
  }

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: BufferEncoding): Promise<string>;
  readFile(path: string, options: { encoding: BufferEncoding }): Promise<string>;
  async readFile(path: string, options?: BufferEncoding | { encoding: BufferEncoding }): Promise<Buffer | string> {
    const inner = this.#path(path);
    const data = options === undefined ? await this.#inner.readFile(inner) : await this.#inner.readFile(inner, encodingOf(options));
    this.#hooks.onRead?.(Buffer.byteLength(data));
    return data;
  }

  async writeFile(path: string, data: string | Uint8Array, options?: { mode?: number } | BufferEncoding): Promise<void> {
    await this.#inner.writeFile(this.#path(path), data, options);
    this.#hooks.onWrite?.(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
  }

  async appendFile(path: string, data: string | Uint8Array): Promise<void> {
    await this.#inner.appendFile(this.#path(path), data);
    this.#hooks.onWrite?.(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
  }

  async open(path: string, flags?: OpenFlags, mode?: number): Promise<FileHandle> {
    return new MeteredHandle(await this.#inner.open(this.#path(path), flags, mode), this.#hooks);
  }

  async truncate(path: string, len?: number): Promise<void> {
    await this.#inner.truncate(this.#path(path), len);
  }

  async stat(path: string): Promise<Stats> {
    return this.#inner.stat(this.#path(path));
  }

  async lstat(path: string): Promise<Stats> {
    return this.#inner.lstat(this.#path(path));
  }

  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  async readdir(path: string, options?: { withFileTypes: true }): Promise<string[] | Dirent[]> {
    return options === undefined ? this.#inner.readdir(this.#path(path)) : this.#inner.readdir(this.#path(path), options);
  }

  async mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void> {
    await this.#inner.mkdir(this.#path(path), options);
  }

  async rmdir(path: string): Promise<void> {
    await this.#inner.rmdir(this.#path(path));
  }

  async unlink(path: string): Promise<void> {
    await this.#inner.unlink(this.#path(path));
  }

  async rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void> {
    await this.#inner.rm(this.#path(path), options);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.#inner.rename(this.#path(from), this.#path(to));
  }

  async symlink(target: string, path: string): Promise<void> {
    await this.#inner.symlink(target, this.#path(path));
  }

  async readlink(path: string): Promise<string> {
    return this.#inner.readlink(this.#path(path));
  }

  async link(existing: string, newPath: string): Promise<void> {
    await this.#inner.link(this.#path(existing), this.#path(newPath));
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.#inner.chmod(this.#path(path), mode);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.#inner.chown(this.#path(path), uid, gid);
  }

  async utimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    await this.#inner.utimes(this.#path(path), atime, mtime);
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    await this.#inner.lchown(this.#path(path), uid, gid);
  }

  async lutimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    await this.#inner.lutimes(this.#path(path), atime, mtime);
  }

  async access(path: string, mode?: number): Promise<void> {
    await this.#inner.access(this.#path(path), mode);
  }

  createReadStream(path: string, options?: { start?: number; end?: number; highWaterMark?: number }): Readable {
    return this.#inner.createReadStream(this.#path(path), options);
  }

  createWriteStream(path: string, options?: { start?: number; flags?: OpenFlags }): Writable {
    return this.#inner.createWriteStream(this.#path(path), options);
  }

  async sync(): Promise<void> {
    this.#hooks.signal?.throwIfAborted();
    await this.#inner.sync();
  }

  /** The inner path of `path`, after checking the signal. */
  #path(path: string): string {
    this.#hooks.signal?.throwIfAborted();
    const inside = posix.resolve('/', path);
    return this.#root === '/' ? inside : posix.join(this.#root, inside);
  }
}

/** A file handle that checks the signal before each call and reports the bytes it moves. */
class MeteredHandle implements FileHandle {
  readonly #inner: FileHandle;
  readonly #hooks: LayerHooks;

  constructor(inner: FileHandle, hooks: LayerHooks) {
    this.#inner = inner;
    this.#hooks = hooks;
  }

  async read<T extends Uint8Array>(buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesRead: number; buffer: T }> {
    this.#hooks.signal?.throwIfAborted();
    const result = await this.#inner.read(buffer, offset, length, position);
    this.#hooks.onRead?.(result.bytesRead);
    return result;
  }

  async write<T extends Uint8Array>(buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: T }> {
    this.#hooks.signal?.throwIfAborted();
    const result = await this.#inner.write(buffer, offset, length, position);
    this.#hooks.onWrite?.(result.bytesWritten);
    return result;
  }

  async readFile(): Promise<Buffer> {
    this.#hooks.signal?.throwIfAborted();
    const data = await this.#inner.readFile();
    this.#hooks.onRead?.(data.byteLength);
    return data;
  }

  truncate(len?: number): Promise<void> {
    return this.#inner.truncate(len);
  }

  stat(): Promise<Stats> {
    return this.#inner.stat();
  }

  sync(): Promise<void> {
    return this.#inner.sync();
  }

  /** Always closes, aborted or not: a handle is never left open. */
  close(): Promise<void> {
    return this.#inner.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function encodingOf(options: BufferEncoding | { encoding: BufferEncoding }): BufferEncoding {
  return typeof options === 'string' ? options : options.encoding;
}
