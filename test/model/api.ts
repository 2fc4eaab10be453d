/**
 * The public contract of shared/API.md, as the tests see it: only the names the tests call, typed
 * loosely enough that any engine honouring API.md is assignable to them. The tests are written
 * against these types, never against the engine's own, so a test cannot lean on something
 * API.md does not promise.
 */

export interface OpenOptions {
  dir?: string;
  blockSize?: number;
  workers?: number;
  verifyReads?: boolean;
  readOnly?: boolean;
}

export type SnapshotKind = 'active' | 'committed' | 'view';

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  created: Date;
  updated: Date;
}

export interface Usage {
  size: number;
  blocks: number;
  inodes: number;
}

export interface StoreStats {
  blockSize: number;
  blocks: number;
  storedBytes: number;
  snapshots: number;
}

export interface Change {
  path: string;
  kind: 'added' | 'modified' | 'deleted';
}

export interface GcReport {
  blocksRemoved: number;
  bytesFreed: number;
}

export interface Stats {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number | bigint;
  mtimeMs: number;
  ctimeMs: number;
  mtime: Date;
  blocks: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export interface Dirent {
  name: string;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

export type OpenFlags = 'r' | 'r+' | 'w' | 'w+' | 'wx' | 'a' | 'a+';

export interface FileHandle {
  read(buffer: Uint8Array, offset?: number, length?: number, position?: number | null): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number }>;
  readFile(): Promise<Buffer>;
  truncate(len?: number): Promise<void>;
  stat(): Promise<Stats>;
  close(): Promise<void>;
}

export interface Layer {
  readonly key: string;
  readonly readOnly: boolean;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: string | Uint8Array, options?: { mode?: number }): Promise<void>;
  appendFile(path: string, data: string | Uint8Array): Promise<void>;
  open(path: string, flags?: OpenFlags, mode?: number): Promise<FileHandle>;
  truncate(path: string, len?: number): Promise<void>;
  stat(path: string): Promise<Stats>;
  lstat(path: string): Promise<Stats>;
  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void | string | undefined>;
  rmdir(path: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  link(existing: string, newPath: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  access(path: string): Promise<void>;
  createReadStream(path: string, options?: { start?: number; end?: number }): NodeJS.ReadableStream;
  createWriteStream(path: string, options?: { start?: number; flags?: OpenFlags }): NodeJS.WritableStream;
}

export interface Store {
  readonly blockSize: number;
  readonly dir: string | undefined;
  prepare(key: string, parent?: string, options?: { labels?: Record<string, string> }): Promise<Layer>;
  view(key: string, parent: string, options?: { labels?: Record<string, string> }): Promise<Layer>;
  commit(name: string, key: string, options?: { labels?: Record<string, string>; keep?: boolean }): Promise<SnapshotInfo>;
  mount(key: string): Promise<Layer>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo>;
  update(key: string, options: { labels: Record<string, string> }): Promise<SnapshotInfo>;
  walk(filter?: { kind?: SnapshotKind; parent?: string; labels?: Record<string, string> }): AsyncIterable<SnapshotInfo>;
  usage(key: string): Promise<Usage>;
  diff(key: string, base?: string | null): AsyncIterable<Change>;
  stats(): Promise<StoreStats>;
  gc(options?: { signal?: AbortSignal }): Promise<GcReport>;
  close(): Promise<void>;
}

/** What every error of API.md carries, as from `node:fs`. */
export interface FsLikeError extends Error {
  code: string;
  syscall?: string;
  path?: string;
}
