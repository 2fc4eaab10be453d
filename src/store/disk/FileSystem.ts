/**
 * The file operations the disk store uses, and nothing else: every byte it writes and every
 * fsync it makes goes through one of these, so tests can swap in a layer that fails the k-th
 * write or fsync, or simulates a power loss (test/support/FaultyFileSystem.ts).
 *
 * Semantics are POSIX's, as `node:fs/promises` gives them; errors carry node's codes.
 */
export interface StoreFile {
  /** Reads up to `length` bytes at `position`; resolves to the bytes read (fewer at the end). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes all `length` bytes at `position`. */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void>;
  /**
   * Writes all of `buffers`, one after the other, from `position`, as `write` of their
   * concatenation would (gathered: pwritev(2), nothing copied). It may be torn as `write` may.
   */
  writev(buffers: readonly Uint8Array[], position: number): Promise<void>;
  /** fsync(2): the file's data and size are durable when it resolves. */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileSystem {
  /** `'r'` read only; `'r+'` read and write an existing file; `'wx'` create a new file (EEXIST when it exists). */
  open(path: string, flags: 'r' | 'r+' | 'wx'): Promise<StoreFile>;
  readFile(path: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  mkdir(path: string): Promise<void>;
  /** fsync(2) of a directory: the names created, renamed or removed in it are durable. */
  syncDir(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
}
