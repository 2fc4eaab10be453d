import type { Stats } from './Stats.js';

/**
 * An open file of a layer, with `node:fs/promises` `FileHandle` shapes.
 *
 * Rules: the handle refers to the inode it opened, not to the name: a rename moves it along, and
 * after the name is removed it still reads and writes that (now nameless) inode until closed.
 * `read`/`write` without a position use and advance the handle's own position; with `'a'` flags,
 * every write appends. Calls on a closed handle reject with `EBADF`; `close()` twice resolves.
 * Writing through a handle opened read-only rejects with `EBADF`; on a read-only layer, with
 * `EROFS` at `open`.
 */
export interface FileHandle {
  read<T extends Uint8Array>(buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesRead: number; buffer: T }>;
  write<T extends Uint8Array>(buffer: T, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: T }>;
  readFile(): Promise<Buffer>;
  truncate(len?: number): Promise<void>;
  stat(): Promise<Stats>;
  sync(): Promise<void>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
