import { constants } from 'node:fs';
import { access, mkdir, open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { fsError } from '../../core/errors.js';
import type { FileSystem, StoreFile } from './FileSystem.js';

/** The real file system, through `node:fs/promises`. */
export class NodeFileSystem implements FileSystem {
  async open(path: string, flags: 'r' | 'r+' | 'wx'): Promise<StoreFile> {
    return new NodeStoreFile(await open(path, flags, 0o644));
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(path);
  }

  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return unlink(path);
  }

  readdir(path: string): Promise<string[]> {
    return readdir(path);
  }

  async mkdir(path: string): Promise<void> {
    await mkdir(path, { recursive: true });
  }

  async syncDir(path: string): Promise<void> {
    const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  }
}

class NodeStoreFile implements StoreFile {
  readonly #handle: FileHandle;

  constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#handle.read(buffer, offset + done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await this.#handle.write(buffer, offset + done, length - done, position + done);
      done += bytesWritten;
    }
  }

  /** libuv's write loop does the rest: past IOV_MAX buffers and short writes, until all is written or it fails. */
  async writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
    const length = buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
    const { bytesWritten } = await this.#handle.writev(buffers as Uint8Array[], position);
    if (bytesWritten !== length) throw fsError('EIO', { syscall: 'write', detail: `pwritev wrote ${bytesWritten} of ${length} bytes` });
  }

  sync(): Promise<void> {
    return this.#handle.sync();
  }

  truncate(length: number): Promise<void> {
    return this.#handle.truncate(length);
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
