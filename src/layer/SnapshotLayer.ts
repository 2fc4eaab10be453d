import { Readable, Writable } from 'node:stream';
import { EMPTY_VECTOR, vectorRange, vectorSet, type BlockRef } from '../core/BlockVector.js';
import { dirMapEntries, dirMapGet } from '../core/DirMap.js';
import type { Entry, FileEntry, NodeRecord } from '../core/Entry.js';
import { fsError } from '../core/errors.js';
import * as namespace from '../core/namespace.js';
import { placeOf, placePath, resolve, type Call, type Location } from '../core/resolve.js';
import { recordOf, withRecord, type Place, type Tree } from '../core/Tree.js';
import type { SnapshotState } from '../snapshots/SnapshotState.js';
import { MAX_FILE_SIZE, readRange, replaceContent, truncateContent, writeRange } from './fileContent.js';
import type { FileHandle } from './FileHandle.js';
import type { Layer, OpenFlags, TimeLike } from './Layer.js';
import { LayerFileHandle, type FileAccess, type HandleMode } from './LayerFileHandle.js';
import type { LayerHost } from './LayerHost.js';
import { OpenFile } from './OpenFile.js';
import { Dirent, Stats } from './Stats.js';

const W_OK = 2;

/** How each `open` flag string opens a file. */
const FLAGS: Record<OpenFlags, HandleMode & { create: boolean; exclusive: boolean; truncate: boolean }> = {
  r: { readable: true, writable: false, append: false, create: false, exclusive: false, truncate: false },
  'r+': { readable: true, writable: true, append: false, create: false, exclusive: false, truncate: false },
  w: { readable: false, writable: true, append: false, create: true, exclusive: false, truncate: true },
  'w+': { readable: true, writable: true, append: false, create: true, exclusive: false, truncate: true },
  wx: { readable: false, writable: true, append: false, create: true, exclusive: true, truncate: true },
  'wx+': { readable: true, writable: true, append: false, create: true, exclusive: true, truncate: true },
  a: { readable: false, writable: true, append: true, create: true, exclusive: false, truncate: false },
  'a+': { readable: true, writable: true, append: true, create: true, exclusive: false, truncate: false },
  ax: { readable: false, writable: true, append: true, create: true, exclusive: true, truncate: false },
  'ax+': { readable: true, writable: true, append: true, create: true, exclusive: true, truncate: false },
};

/** Bytes a write stream gathers before writing, so small chunks do not each store a block. */
const WRITE_STREAM_BUFFER = 1 << 20;
/**
 * Bytes a read stream reads at a time unless `highWaterMark` says otherwise: 1 MiB, so a stream
 * asks for many blocks at once (one range request for a lazily pulled file's neighbours).
 */
const READ_STREAM_CHUNK = 1 << 20;

/** A regular file ready for writing: the tree it is in (perhaps just created) and where. */
interface WritableFile {
  readonly tree: Tree;
  readonly place: Place;
  readonly stored: Entry;
  readonly file: FileEntry;
}

/**
 * A `Layer` on one snapshot: the `node:fs/promises` surface over the snapshot's tree. Every call
 * runs on the snapshot's queue, so calls take effect in the order they were made, whichever
 * `Layer` object of the snapshot they came through. Writes replace the snapshot's tree with a new
 * one; nothing is ever modified in place.
 */
export class SnapshotLayer implements Layer {
  readonly key: string;
  readonly readOnly: boolean;
  readonly #state: SnapshotState;
  readonly #host: LayerHost;
  readonly #access: FileAccess;

  constructor(state: SnapshotState, host: LayerHost, readOnly: boolean) {
    this.key = state.key;
    this.readOnly = readOnly;
    this.#state = state;
    this.#host = host;
    this.#access = this.#fileAccess();
  }

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: BufferEncoding): Promise<string>;
  readFile(path: string, options: { encoding: BufferEncoding }): Promise<string>;
  async readFile(path: string, options?: BufferEncoding | { encoding?: BufferEncoding }): Promise<Buffer | string> {
    const encoding = typeof options === 'string' ? options : options?.encoding;
    const bytes = await this.#read('open', path, (tree, call) => {
      const file = this.#regularFile(tree, path, call);
      return readRange(this.#host.blocks, file, 0, file.size);
    });
    return encoding === undefined ? bytes : bytes.toString(encoding);
  }

  async writeFile(path: string, data: string | Uint8Array, options?: { mode?: number } | BufferEncoding): Promise<void> {
    const bytes = toBytes(data, typeof options === 'string' ? options : undefined);
    const mode = typeof options === 'object' && options.mode !== undefined ? options.mode : 0o644;
    await this.#write('open', path, async (tree, call, now) => {
      const target = this.#openForWrite(tree, path, true, false, namespace.permissionBits(mode, call), now, call);
      const file = await replaceContent(this.#host.blocks, target.file, bytes, now);
      return withRecord(target.tree, target.place, target.stored, file);
    });
  }

  /**
   * Creates the regular file `path` (nothing may be there: `EEXIST`) of `size` bytes whose blocks
   * are `refs`, in the canonical form (`fileContent.ts`: block `i` holds bytes `[i·B, (i+1)·B)`,
   * `null` for a hole, `⌈size/B⌉` of them, else `EINVAL`). Nothing is read or stored: the blocks
   * are the caller's to provide, as a lazy pull's come from a block source when first read.
   * Not part of `Layer`.
   */
  async createFileFromBlocks(path: string, mode: number, size: number, refs: readonly BlockRef[]): Promise<void> {
    await this.#write('open', path, (tree, call, now) => {
      const length = checkLength(size, call);
      const count = Math.ceil(length / this.#host.blocks.blockSize);
      if (refs.length !== count) throw fsError('EINVAL', { ...call, detail: `a file of ${length} bytes has ${count} blocks, not ${refs.length}` });
      const target = this.#openForWrite(tree, path, true, true, namespace.permissionBits(mode, call), now, call);
      const blocks = vectorSet(EMPTY_VECTOR, refs.map((ref, i) => [i, ref] as const));
      return withRecord(target.tree, target.place, target.stored, { ...target.file, size: length, blocks, mtimeMs: now, ctimeMs: now });
    });
  }

  async appendFile(path: string, data: string | Uint8Array): Promise<void> {
    const bytes = toBytes(data);
    await this.#write('open', path, async (tree, call, now) => {
      const target = this.#openForWrite(tree, path, true, false, 0o644, now, call);
      const file = await writeRange(this.#host.blocks, target.file, target.file.size, bytes, now);
      return withRecord(target.tree, target.place, target.stored, file);
    });
  }

  async open(path: string, flags: OpenFlags = 'r', mode = 0o644): Promise<FileHandle> {
    const how = FLAGS[flags];
    if (how === undefined) throw fsError('EINVAL', { syscall: 'open', path, detail: `unknown flags '${String(flags)}'` });
    if (!how.writable) {
      const found = await this.#read('open', path, (tree, call) => {
        const at = resolve(tree, path, true, call);
        if (at.record === undefined) throw fsError('ENOENT', call);
        return { ino: at.record.ino, physical: placePath(at) };
      });
      return this.#handle(found.ino, found.physical, how, path);
    }
    let opened: OpenFile | undefined;
    await this.#write('open', path, async (tree, call, now) => {
      const target = this.#openForWrite(tree, path, how.create, how.exclusive, namespace.permissionBits(mode, call), now, call);
      let next = target.tree;
      if (how.truncate && target.file.size > 0) {
        next = withRecord(next, target.place, target.stored, await truncateContent(this.#host.blocks, target.file, 0, now));
      }
      opened = new OpenFile(target.file.ino, placePath(target.place));
      return next;
    });
    return this.#handle(opened!.ino, opened!.path, how, path);
  }

  async truncate(path: string, len = 0): Promise<void> {
    await this.#write('open', path, async (tree, call, now) => {
      const length = checkLength(len, call);
      const target = this.#openForWrite(tree, path, false, false, 0, now, call);
      return withRecord(target.tree, target.place, target.stored, await truncateContent(this.#host.blocks, target.file, length, now));
    });
  }

  async stat(path: string): Promise<Stats> {
    return this.#read('stat', path, (tree, call) => this.#stats(this.#existing(tree, path, true, call)));
  }

  async lstat(path: string): Promise<Stats> {
    return this.#read('lstat', path, (tree, call) => this.#stats(this.#existing(tree, path, false, call)));
  }

  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  async readdir(path: string, options?: { withFileTypes?: boolean }): Promise<string[] | Dirent[]> {
    return this.#read('scandir', path, (tree, call) => {
      const at = resolve(tree, path, true, call);
      if (at.record === undefined) throw fsError('ENOENT', call);
      if (at.record.type !== 'dir') throw fsError('ENOTDIR', call);
      const leaves = [...dirMapEntries(at.record.entries)].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      if (options?.withFileTypes !== true) return leaves.map((leaf) => leaf.name);
      const parent = placePath(at);
      return leaves.map((leaf) => new Dirent(leaf.name, parent, recordOf(tree, leaf.entry).type));
    });
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    await this.#write('mkdir', path, (tree, call, now) =>
      namespace.mkdir(tree, path, namespace.permissionBits(options.mode ?? 0o755, call), options.recursive === true, now),
    );
  }

  async rmdir(path: string): Promise<void> {
    await this.#write('rmdir', path, (tree, _call, now) => namespace.rmdir(tree, path, now));
  }

  async unlink(path: string): Promise<void> {
    await this.#write('unlink', path, (tree, _call, now) => namespace.unlink(tree, path, now));
  }

  async rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    await this.#write('rm', path, (tree, _call, now) => namespace.rm(tree, path, options.recursive === true, options.force === true, now));
  }

  async rename(from: string, to: string): Promise<void> {
    checkPath(to);
    await this.#write('rename', from, (tree, _call, now) => {
      const next = namespace.rename(tree, from, to, now);
      if (next !== tree && this.#state.openFiles.size > 0) {
        const call = { syscall: 'rename', path: from };
        const source = placePath(resolve(tree, from, false, call));
        const target = placePath(resolve(tree, to, false, call));
        for (const file of this.#state.openFiles) if (file.locate(tree)?.stored.type !== 'link') file.renamed(source, target);
      }
      return next;
    });
  }

  async symlink(target: string, path: string): Promise<void> {
    if (typeof target !== 'string') throw new TypeError('target must be a string');
    await this.#write('symlink', path, (tree, _call, now) => namespace.symlink(tree, target, path, now));
  }

  async readlink(path: string): Promise<string> {
    return this.#read('readlink', path, (tree, call) => {
      const record = this.#existing(tree, path, false, call);
      if (record.type !== 'symlink') throw fsError('EINVAL', call);
      return record.target;
    });
  }

  async link(existing: string, newPath: string): Promise<void> {
    checkPath(newPath);
    await this.#write('link', existing, (tree, _call, now) => namespace.link(tree, existing, newPath, now));
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.#write('chmod', path, (tree, call, now) => {
      const bits = namespace.permissionBits(mode, call);
      return namespace.updateMeta(tree, path, 'chmod', (record) => ({ ...record, mode: bits, ctimeMs: now }));
    });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.#changeOwner('chown', path, uid, gid, true);
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    await this.#changeOwner('lchown', path, uid, gid, false);
  }

  async utimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    await this.#changeTimes('utime', path, atime, mtime, true);
  }

  async lutimes(path: string, atime: TimeLike, mtime: TimeLike): Promise<void> {
    await this.#changeTimes('lutime', path, atime, mtime, false);
  }

  #changeOwner(syscall: string, path: string, uid: number, gid: number, follow: boolean): Promise<void> {
    return this.#write(syscall, path, (tree, call, now) => {
      const owner = (id: number, current: number): number => {
        if (id === -1) return current;
        if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw fsError('EINVAL', { ...call, detail: `invalid owner id ${id}` });
        return id;
      };
      return namespace.updateMeta(tree, path, syscall, (record) => ({ ...record, uid: owner(uid, record.uid), gid: owner(gid, record.gid), ctimeMs: now }), follow);
    });
  }

  #changeTimes(syscall: string, path: string, atime: TimeLike, mtime: TimeLike, follow: boolean): Promise<void> {
    toMs(atime);
    const mtimeMs = toMs(mtime);
    return this.#write(syscall, path, (tree, _call, now) => namespace.updateMeta(tree, path, syscall, (record) => ({ ...record, mtimeMs, ctimeMs: now }), follow));
  }

  async access(path: string, mode = 0): Promise<void> {
    await this.#read('access', path, (tree, call) => {
      this.#existing(tree, path, true, call);
      if ((mode & W_OK) !== 0 && this.readOnly) throw fsError('EROFS', call);
    });
  }

  createReadStream(path: string, options: { start?: number; end?: number; highWaterMark?: number } = {}): Readable {
    checkPath(path);
    const start = options.start ?? 0;
    const end = options.end ?? Infinity;
    const chunk = options.highWaterMark ?? READ_STREAM_CHUNK;
    const open = (): Promise<FileHandle> => this.open(path, 'r');
    // One read ahead: the next chunk is asked for before this one is handed on, so fetching it (a
    // lazily pulled file's range request, a disk read) overlaps with the consumer.
    async function* chunks(): AsyncGenerator<Buffer> {
      const handle = await open();
      const readAt = (position: number): Promise<{ bytesRead: number; buffer: Buffer; position: number }> => {
        const length = Math.min(chunk, end - position + 1);
        return handle.read(Buffer.allocUnsafe(length), 0, length, position).then(({ bytesRead, buffer }) => ({ bytesRead, buffer, position }));
      };
      let next = start <= end ? readAt(start) : undefined;
      try {
        while (next !== undefined) {
          const { bytesRead, buffer, position } = await next;
          next = undefined;
          if (bytesRead === 0) return;
          if (position + bytesRead <= end) next = readAt(position + bytesRead);
          yield buffer.subarray(0, bytesRead);
        }
      } finally {
        await next?.catch(() => undefined);
        await handle.close();
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  createWriteStream(path: string, options: { start?: number; flags?: OpenFlags } = {}): Writable {
    checkPath(path);
    const blockSize = this.#host.blocks.blockSize;
    let handle: FileHandle | undefined;
    let position = options.start ?? 0;
    const append = (options.flags ?? 'w').startsWith('a');
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    // Writes the gathered bytes, all of them or only up to a block boundary, so the stream
    // stores each block once instead of once per small chunk.
    const flush = async (all: boolean): Promise<void> => {
      const data = Buffer.concat(pending, pendingBytes);
      const keep = all || append ? 0 : (position + data.byteLength) % blockSize;
      const head = data.subarray(0, data.byteLength - keep);
      pending = keep === 0 ? [] : [Buffer.from(data.subarray(data.byteLength - keep))];
      pendingBytes = keep;
      if (head.byteLength === 0) return;
      await handle!.write(head, 0, head.byteLength, append ? null : position);
      position += head.byteLength;
    };
    return new Writable({
      construct: (callback) => {
        this.open(path, options.flags ?? 'w').then((opened) => {
          handle = opened;
          callback();
        }, callback);
      },
      write: (chunk: Buffer, _encoding, callback) => {
        pending.push(chunk);
        pendingBytes += chunk.byteLength;
        if (pendingBytes < WRITE_STREAM_BUFFER) return callback();
        flush(false).then(() => callback(), callback);
      },
      final: (callback) => {
        flush(true).then(() => callback(), callback);
      },
      destroy: (error, callback) => {
        if (handle === undefined) return callback(error);
        handle.close().then(() => callback(error), callback);
      },
    });
  }

  async sync(): Promise<void> {
    await this.#read('fsync', '/', () => undefined);
    await this.#host.sync();
  }

  // ---- the machinery every call goes through ----

  /** Runs a read on the snapshot's queue against its tree as of that moment. */
  #read<T>(syscall: string, path: string, task: (tree: Tree, call: Call) => T | Promise<T>): Promise<T> {
    checkPath(path);
    return this.#state.queue.run(() => {
      this.#checkUsable(syscall, path, false);
      return task(this.#state.tree, { syscall, path });
    });
  }

  /**
   * Runs a write on the snapshot's queue: `task` maps the current tree to the next one, which
   * becomes the snapshot's tree only if `task` succeeds; a failure changes nothing.
   */
  #write(syscall: string, path: string, task: (tree: Tree, call: Call, nowMs: number) => Tree | Promise<Tree>): Promise<void> {
    checkPath(path);
    return this.#state.queue.run(() => {
      this.#checkUsable(syscall, path, true);
      return this.#host.gate.shared(async () => {
        const before = this.#state.tree;
        const after = await task(before, { syscall, path }, Date.now());
        this.#checkUsable(syscall, path, true);
        this.#state.tree = after;
        this.#detachOrphans(before, after);
      });
    });
  }

  #checkUsable(syscall: string, path: string, write: boolean): void {
    this.#host.checkOpen(syscall, path);
    if (!this.#state.alive) throw fsError('EBADF', { syscall, path, detail: `snapshot '${this.key}' is no longer mounted` });
    if (write && this.readOnly) throw fsError('EROFS', { syscall, path });
    if (write) this.#host.checkWritable(syscall);
  }

  /** Open handles whose last name a write removed keep their inode as it was. */
  #detachOrphans(before: Tree, after: Tree): void {
    for (const file of this.#state.openFiles) {
      if (file.detached !== undefined || file.locate(after) !== undefined) continue;
      file.detached = file.locate(before)?.record;
    }
  }

  #existing(tree: Tree, path: string, follow: boolean, call: Call): NodeRecord {
    const at = resolve(tree, path, follow, call);
    if (at.record === undefined) throw fsError('ENOENT', call);
    return at.record;
  }

  #regularFile(tree: Tree, path: string, call: Call): FileEntry {
    const record = this.#existing(tree, path, true, call);
    if (record.type === 'dir') throw fsError('EISDIR', { ...call, syscall: 'read' });
    return record as FileEntry;
  }

  #stats(record: NodeRecord): Stats {
    return new Stats(record, this.#host.blocks);
  }

  /** Finds (or, with `create`, makes) the regular file `path` names, for writing. */
  #openForWrite(tree: Tree, path: string, create: boolean, exclusive: boolean, mode: number, now: number, call: Call): WritableFile {
    const at: Location = resolve(tree, path, !exclusive, call);
    if (at.record === undefined) {
      if (!create) throw fsError('ENOENT', call);
      const next = namespace.createFile(tree, at, mode, now, call);
      const place = placeOf(next, at.names, at.name);
      const stored = dirMapGet(place.dirs[place.dirs.length - 1]!.entries, at.name!)!;
      return { tree: next, place, stored, file: stored as FileEntry };
    }
    if (exclusive) throw fsError('EEXIST', call);
    if (at.record.type === 'dir') throw fsError('EISDIR', call);
    return { tree, place: at, stored: at.entry!, file: at.record as FileEntry };
  }

  #handle(ino: number, physical: string, mode: HandleMode, path: string): FileHandle {
    const file = new OpenFile(ino, physical);
    if (!this.readOnly) this.#state.openFiles.add(file);
    return new LayerFileHandle(this.#access, file, mode, path);
  }

  /** The calls a handle makes, each on the snapshot's queue like any other. */
  #fileAccess(): FileAccess {
    const current = (tree: Tree, file: OpenFile, call: Call): { place: Place; stored: Entry; record: NodeRecord } | undefined => {
      if (file.detached !== undefined) return undefined;
      const found = file.locate(tree);
      if (found === undefined) throw fsError('EBADF', { ...call, detail: 'the open file is gone' });
      return found;
    };
    const recordOfFile = (tree: Tree, file: OpenFile, call: Call): NodeRecord => current(tree, file, call)?.record ?? file.detached!;
    const update = async (file: OpenFile, syscall: string, change: (record: FileEntry, now: number) => Promise<FileEntry>): Promise<FileEntry> => {
      let result!: FileEntry;
      await this.#write(syscall, file.path, async (tree, call, now) => {
        const found = current(tree, file, call);
        const record = found?.record ?? file.detached!;
        if (record.type !== 'file') throw fsError('EISDIR', call);
        result = await change(record as FileEntry, now);
        if (found === undefined) {
          file.detached = result;
          return tree;
        }
        return withRecord(tree, found.place, found.stored, result);
      });
      return result;
    };
    return {
      read: (file, position, length, into) =>
        this.#read('read', file.path, (tree, call) => {
          const record = recordOfFile(tree, file, call);
          if (record.type === 'dir') throw fsError('EISDIR', call);
          const content = record as FileEntry;
          const bytes = readRange(this.#host.blocks, content, position, length, into);
          // Asked in the same turn as the read's own blocks, so a source fetches both in one go.
          const ahead = file.readAhead.next(position, length, content.size);
          if (ahead !== undefined) {
            const size = this.#host.blocks.blockSize;
            this.#host.prefetch(vectorRange(content.blocks, Math.floor(ahead.start / size), Math.ceil(ahead.end / size)));
          }
          return bytes;
        }),
      write: async (file, position, data) => {
        let end = 0;
        await update(file, 'write', async (record, now) => {
          const at = position === 'append' ? record.size : position;
          end = at + data.byteLength;
          if (end > MAX_FILE_SIZE) throw fsError('EFBIG', { syscall: 'write', path: file.path });
          return writeRange(this.#host.blocks, record, at, data, now);
        });
        return end;
      },
      truncate: async (file, length) => {
        const checked = checkLength(length, { syscall: 'ftruncate', path: file.path });
        await update(file, 'ftruncate', (record, now) => truncateContent(this.#host.blocks, record, checked, now));
      },
      stat: (file) => this.#read('fstat', file.path, (tree, call) => this.#stats(recordOfFile(tree, file, call))),
      sync: () => this.sync(),
      release: (file) => this.#state.openFiles.delete(file),
    };
  }
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string') throw new TypeError(`path must be a string, not ${typeof path}`);
}

function checkLength(length: number, call: Call): number {
  if (!Number.isInteger(length) || length < 0) throw fsError('EINVAL', { ...call, detail: `invalid length ${length}` });
  if (length > MAX_FILE_SIZE) throw fsError('EFBIG', call);
  return length;
}

function toBytes(data: string | Uint8Array, encoding: BufferEncoding = 'utf8'): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('data must be a string or a Uint8Array');
}

function toMs(time: TimeLike): number {
  if (time instanceof Date) return time.getTime();
  const seconds = typeof time === 'string' ? Number(time) : time;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new TypeError(`invalid time ${String(time)}`);
  return seconds * 1000;
}
