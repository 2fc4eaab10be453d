import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FileSystem, StoreFile } from '../../src/store/disk/FileSystem.js';
import { NodeFileSystem } from '../../src/store/disk/NodeFileSystem.js';

/**
 * A `FileSystem` over the real one (`NodeFileSystem`) for the durable store's crash and fault
 * tests. Three tools, usable together:
 *
 * - **Counting.** Every operation that changes the disk — `write`, `fsync`, `truncate`, creating
 *   a file (`open 'wx'`), `rename`, `unlink`, `mkdir`, `syncDir` — is numbered from 1 since the
 *   last `startCounting()`, and logged (`ops`), so a test can measure what one call does.
 * - **Faults.** `failAt(k, code)` makes the k-th counted operation reject with `code` (EIO or
 *   ENOSPC) without doing it; with `torn`, a failing `write` first writes half its bytes (as a
 *   full disk does). The fault is one-shot: later operations work again, so a store that keeps
 *   writing after a failure shows it on disk.
 * - **Power loss.** With `trackDurability(root)`, it remembers what the kernel would still hold in
 *   its caches: per file, the writes and truncates made since its last `fsync`; per directory, the
 *   names created, renamed and removed since its last `syncDir`. `crash(seed)` then rewrites the
 *   real directory as a power cut could leave it: each directory keeps a random prefix of its
 *   un-synced name changes (journaled metadata reaches the disk in order); each file has its last
 *   fsynced content plus each later write applied, dropped, torn, zero-filled or garbled at random.
 *   `halt()` (now) or `haltAt(k)` (just before the k-th changing operation) is a process kill instead: from then on every changing operation rejects with EIO and
 *   does nothing (the disk keeps what the page cache has, still not durable); `resume()` lets a
 *   store be reopened on the same, still-tracked, disk.
 *
 * Paths are the absolute paths the store passes. The writer lock (`lock`) is made with `node:fs`
 * directly, outside this layer, and is ignored here.
 */
export type FaultCode = 'EIO' | 'ENOSPC';
export type OpKind = 'create' | 'write' | 'fsync' | 'truncate' | 'rename' | 'unlink' | 'mkdir' | 'syncDir';

export interface OpRecord {
  /** 1-based, since `startCounting()`. */
  readonly index: number;
  readonly kind: OpKind;
  readonly path: string;
  /** For a rename, where to. */
  readonly to?: string;
}

export class FaultyFileSystem implements FileSystem {
  readonly #real = new NodeFileSystem();
  #ops: OpRecord[] = [];
  #fault: { at: number; code: FaultCode; torn: boolean } | undefined;
  #faultsHit = 0;
  #halted = false;
  #haltAt: number | ((op: OpRecord) => boolean) | undefined;
  #tracker: DurabilityTracker | undefined;

  /** The operations counted since `startCounting()`. */
  get ops(): readonly OpRecord[] {
    return this.#ops;
  }

  /** How many injected faults have fired. */
  get faultsHit(): number {
    return this.#faultsHit;
  }

  startCounting(): void {
    this.#ops = [];
  }

  /** The `k`-th operation counted from now on (1-based; `startCounting()` is called) rejects with `code`. */
  failAt(k: number, code: FaultCode, options: { torn?: boolean } = {}): void {
    this.startCounting();
    this.#fault = { at: k, code, torn: options.torn === true };
  }

  clearFault(): void {
    this.#fault = undefined;
  }

  /** Every later changing operation rejects with EIO and does nothing: the process is dead. */
  halt(): void {
    this.#halted = true;
  }

  /**
   * The process dies just before the `k`-th changing operation counted from now on (or the first
   * for which `k` returns true): it and all after it reject with EIO, undone.
   */
  haltAt(k: number | ((op: OpRecord) => boolean)): void {
    this.startCounting();
    this.#haltAt = k;
  }

  get halted(): boolean {
    return this.#halted;
  }

  resume(): void {
    this.#halted = false;
    this.#haltAt = undefined;
  }

  /** Starts remembering what is not durable yet under `root` (an existing directory; what it holds now counts as durable). */
  trackDurability(root: string): void {
    this.#tracker = new DurabilityTracker(root);
  }

  /**
   * Power loss: rewrites the tracked directory as the disk could hold it after a power cut now,
   * chosen by `seed`, or with `'worst'` the outcome that keeps nothing not durable (every
   * un-synced write dropped, every un-synced name change undone); then everything on disk counts
   * as durable. Call `halt()` and close the store first, so nothing writes meanwhile. Returns a
   * description of what was lost, for messages.
   */
  crash(seed: number | 'worst'): string {
    if (this.#tracker === undefined) throw new Error('crash() needs trackDurability() first');
    const lost = this.#tracker.crash(seed === 'worst' ? () => 0.5 : mulberry32(seed), seed === 'worst');
    this.#tracker = new DurabilityTracker(this.#tracker.root);
    return lost;
  }

  /** Numbers a changing operation, and fails it when it is the one chosen (or when halted). */
  #count(kind: OpKind, path: string, to?: string): { fail: FaultCode | undefined; torn: boolean } {
    if (this.#halted) throw fault('EIO', kind, path, 'the process is dead (halted)');
    const index = this.#ops.length + 1;
    const op: OpRecord = to === undefined ? { index, kind, path } : { index, kind, path, to };
    if (this.#haltAt === index || (typeof this.#haltAt === 'function' && this.#haltAt(op))) {
      this.#halted = true;
      throw fault('EIO', kind, path, 'the process is dead (halted)');
    }
    this.#ops.push(op);
    if (this.#fault !== undefined && this.#fault.at === index) {
      const { code, torn } = this.#fault;
      this.#fault = undefined;
      this.#faultsHit++;
      return { fail: code, torn };
    }
    return { fail: undefined, torn: false };
  }

  async open(path: string, flags: 'r' | 'r+' | 'wx'): Promise<StoreFile> {
    if (flags === 'wx') {
      const { fail } = this.#count('create', path);
      if (fail !== undefined) throw fault(fail, 'open', path);
      const file = await this.#real.open(path, flags);
      return new FaultyStoreFile(this, file, path, this.#tracker?.created(path));
    }
    const file = await this.#real.open(path, flags);
    return new FaultyStoreFile(this, file, path, this.#tracker?.existing(path));
  }

  readFile(path: string): Promise<Buffer> {
    return this.#real.readFile(path);
  }

  async rename(from: string, to: string): Promise<void> {
    const { fail } = this.#count('rename', from, to);
    if (fail !== undefined) throw fault(fail, 'rename', from);
    await this.#real.rename(from, to);
    this.#tracker?.renamed(from, to);
  }

  async unlink(path: string): Promise<void> {
    const { fail } = this.#count('unlink', path);
    if (fail !== undefined) throw fault(fail, 'unlink', path);
    await this.#real.unlink(path);
    this.#tracker?.unlinked(path);
  }

  readdir(path: string): Promise<string[]> {
    return this.#real.readdir(path);
  }

  async mkdir(path: string): Promise<void> {
    if (await this.#real.exists(path)) return;
    const { fail } = this.#count('mkdir', path);
    if (fail !== undefined) throw fault(fail, 'mkdir', path);
    await this.#real.mkdir(path);
    this.#tracker?.madeDir(path);
  }

  async syncDir(path: string): Promise<void> {
    const { fail } = this.#count('syncDir', path);
    if (fail !== undefined) throw fault(fail, 'fsync', path);
    await this.#real.syncDir(path);
    this.#tracker?.syncedDir(path);
  }

  exists(path: string): Promise<boolean> {
    return this.#real.exists(path);
  }

  /** For `FaultyStoreFile`. */
  countFileOp(kind: OpKind, path: string): { fail: FaultCode | undefined; torn: boolean } {
    return this.#count(kind, path);
  }
}

class FaultyStoreFile implements StoreFile {
  readonly #fs: FaultyFileSystem;
  readonly #file: StoreFile;
  readonly #path: string;
  readonly #node: FileNode | undefined;

  constructor(fs: FaultyFileSystem, file: StoreFile, path: string, node: FileNode | undefined) {
    this.#fs = fs;
    this.#file = file;
    this.#path = path;
    this.#node = node;
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.#file.read(buffer, offset, length, position);
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    const { fail, torn } = this.#fs.countFileOp('write', this.#path);
    if (fail !== undefined) {
      if (torn && length > 1) {
        const half = Math.floor(length / 2);
        await this.#file.write(buffer, offset, half, position);
        this.#node?.write(Buffer.from(buffer.subarray(offset, offset + half)), position);
      }
      throw fault(fail, 'write', this.#path);
    }
    await this.#file.write(buffer, offset, length, position);
    this.#node?.write(Buffer.from(buffer.subarray(offset, offset + length)), position);
  }

  /** One write of the buffers joined: counted, failed and torn as `write` is. */
  writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
    const joined = Buffer.concat(buffers);
    return this.write(joined, 0, joined.byteLength, position);
  }

  async sync(): Promise<void> {
    const { fail } = this.#fs.countFileOp('fsync', this.#path);
    if (fail !== undefined) throw fault(fail, 'fsync', this.#path);
    await this.#file.sync();
    this.#node?.synced();
  }

  async truncate(length: number): Promise<void> {
    const { fail } = this.#fs.countFileOp('truncate', this.#path);
    if (fail !== undefined) throw fault(fail, 'ftruncate', this.#path);
    await this.#file.truncate(length);
    this.#node?.truncate(length);
  }

  size(): Promise<number> {
    return this.#file.size();
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

function fault(code: FaultCode, syscall: string, path: string, detail?: string): Error {
  const text = detail ?? (code === 'ENOSPC' ? 'no space left on device (injected)' : 'i/o error (injected)');
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${path}'`), { code, syscall, path, errno: code === 'EIO' ? -5 : -28 });
}

// ---- durability tracking ----

type PendingOp = { kind: 'write'; position: number; bytes: Buffer } | { kind: 'truncate'; length: number };

/** A file (an inode): its bytes now, its bytes as last fsynced, and what changed since. */
class FileNode {
  current: Buffer;
  durable: Buffer;
  pending: PendingOp[] = [];

  constructor(content: Buffer, durable: Buffer) {
    this.current = content;
    this.durable = durable;
  }

  write(bytes: Buffer, position: number): void {
    this.current = applyWrite(this.current, bytes, position);
    this.pending.push({ kind: 'write', position, bytes });
  }

  truncate(length: number): void {
    this.current = applyTruncate(this.current, length);
    this.pending.push({ kind: 'truncate', length });
  }

  synced(): void {
    this.durable = Buffer.from(this.current);
    this.pending = [];
  }
}

type DirEntry = { type: 'file'; node: FileNode } | { type: 'dir'; dir: DirNode };
type DirOp = { kind: 'link'; name: string; entry: DirEntry } | { kind: 'unlink'; name: string } | { kind: 'rename'; from: string; to: string };

/** A directory: its names now, its names as last `syncDir`ed, and the changes since, in order. */
class DirNode {
  current = new Map<string, DirEntry>();
  durable = new Map<string, DirEntry>();
  log: DirOp[] = [];
}

class DurabilityTracker {
  readonly root: string;
  readonly #dirs = new Map<string, DirNode>();

  constructor(root: string) {
    this.root = root;
    this.#scan(root);
  }

  /** Everything under `path` as it is now, all durable. */
  #scan(path: string): DirNode {
    const dir = new DirNode();
    this.#dirs.set(path, dir);
    for (const name of readdirSync(path)) {
      if (path === this.root && isIgnored(name)) continue;
      const full = join(path, name);
      const entry: DirEntry = lstatSync(full).isDirectory()
        ? { type: 'dir', dir: this.#scan(full) }
        : { type: 'file', node: new FileNode(readFileSync(full), readFileSync(full)) };
      dir.current.set(name, entry);
    }
    dir.durable = new Map(dir.current);
    return dir;
  }

  #parent(path: string): DirNode | undefined {
    return this.#dirs.get(dirname(path));
  }

  created(path: string): FileNode | undefined {
    const dir = this.#parent(path);
    if (dir === undefined) return undefined;
    const entry: DirEntry = { type: 'file', node: new FileNode(Buffer.alloc(0), Buffer.alloc(0)) };
    dir.current.set(basename(path), entry);
    dir.log.push({ kind: 'link', name: basename(path), entry });
    return entry.node;
  }

  existing(path: string): FileNode | undefined {
    const entry = this.#parent(path)?.current.get(basename(path));
    if (entry === undefined && this.#parent(path) !== undefined) throw new Error(`tracker: ${path} is not known`);
    return entry?.type === 'file' ? entry.node : undefined;
  }

  renamed(from: string, to: string): void {
    const dir = this.#parent(from);
    if (dir === undefined) return;
    if (dirname(from) !== dirname(to)) throw new Error('tracker: renames across directories are not modelled');
    const entry = dir.current.get(basename(from));
    if (entry === undefined) throw new Error(`tracker: ${from} is not known`);
    dir.current.delete(basename(from));
    dir.current.set(basename(to), entry);
    dir.log.push({ kind: 'rename', from: basename(from), to: basename(to) });
  }

  unlinked(path: string): void {
    const dir = this.#parent(path);
    if (dir === undefined) return;
    dir.current.delete(basename(path));
    dir.log.push({ kind: 'unlink', name: basename(path) });
  }

  madeDir(path: string): void {
    const parent = this.#parent(path);
    if (parent === undefined) return;
    const dir = new DirNode();
    this.#dirs.set(path, dir);
    const entry: DirEntry = { type: 'dir', dir };
    parent.current.set(basename(path), entry);
    parent.log.push({ kind: 'link', name: basename(path), entry });
  }

  syncedDir(path: string): void {
    const dir = this.#dirs.get(path);
    if (dir === undefined) return;
    dir.durable = new Map(dir.current);
    dir.log = [];
  }

  /** Rewrites the real directory as a power cut could leave it; returns what happened, in words. */
  crash(random: () => number, worst: boolean): string {
    const notes: string[] = [];
    const contents = new Map<FileNode, Buffer>();
    const contentOf = (node: FileNode, path: string): Buffer => {
      let bytes = contents.get(node);
      if (bytes !== undefined) return bytes;
      bytes = Buffer.from(node.durable);
      for (const op of node.pending) {
        const roll = worst ? 0.5 : random();
        if (op.kind === 'truncate') {
          if (roll < 0.5) bytes = applyTruncate(bytes, op.length);
          else notes.push(`${path}: dropped truncate(${op.length})`);
          continue;
        }
        const { position, bytes: data } = op;
        if (roll < 0.35) {
          bytes = applyWrite(bytes, data, position);
        } else if (roll < 0.6) {
          notes.push(`${path}: dropped write @${position}+${data.length}`);
        } else if (roll < 0.75) {
          const cut = Math.floor(random() * data.length);
          bytes = applyWrite(bytes, data.subarray(0, cut), position);
          notes.push(`${path}: tore write @${position}+${data.length} at ${cut}`);
        } else if (roll < 0.87) {
          bytes = applyWrite(bytes, Buffer.alloc(data.length), position);
          notes.push(`${path}: zero-filled write @${position}+${data.length}`);
        } else {
          const junk = Buffer.from(data);
          const flips = 1 + Math.floor(random() * 8);
          for (let i = 0; i < flips && junk.length > 0; i++) junk[Math.floor(random() * junk.length)] ^= 1 + Math.floor(random() * 255);
          bytes = applyWrite(bytes, junk, position);
          notes.push(`${path}: garbled write @${position}+${data.length}`);
        }
      }
      contents.set(node, bytes);
      return bytes;
    };
    const outcome = (dir: DirNode, path: string): Map<string, DirEntry> => {
      const names = new Map(dir.durable);
      const roll = worst ? 0 : random();
      const keep = roll < 0.3 ? 0 : roll < 0.6 ? dir.log.length : Math.floor(random() * (dir.log.length + 1));
      if (keep < dir.log.length) notes.push(`${path}: kept ${keep} of ${dir.log.length} un-synced name changes`);
      for (const op of dir.log.slice(0, keep)) {
        if (op.kind === 'link') names.set(op.name, op.entry);
        else if (op.kind === 'unlink') names.delete(op.name);
        else {
          const entry = names.get(op.from);
          // A rename of a name that the kept prefix does not hold cannot have happened first.
          if (entry === undefined) throw new Error(`tracker: rename of ${op.from} not in the replayed names`);
          names.delete(op.from);
          names.set(op.to, entry);
        }
      }
      return names;
    };
    const rebuild = (dir: DirNode, path: string): void => {
      for (const name of readdirSync(path)) {
        if (path === this.root && isIgnored(name)) continue;
        rmSync(join(path, name), { recursive: true, force: true });
      }
      for (const [name, entry] of outcome(dir, path)) {
        const full = join(path, name);
        if (entry.type === 'file') {
          writeFileSync(full, contentOf(entry.node, full));
        } else {
          mkdirSync(full);
          rebuild(entry.dir, full);
        }
      }
    };
    rebuild(this.#dirs.get(this.root)!, this.root);
    return notes.join('\n');
  }
}

/** Files at the top of the store that are not written through the `FileSystem` layer. */
function isIgnored(name: string): boolean {
  return name === 'lock';
}

function applyWrite(content: Buffer, bytes: Uint8Array, position: number): Buffer {
  const end = position + bytes.length;
  const out = end > content.length ? Buffer.concat([content, Buffer.alloc(end - content.length)]) : Buffer.from(content);
  out.set(bytes, position);
  return out;
}

function applyTruncate(content: Buffer, length: number): Buffer {
  return length <= content.length ? Buffer.from(content.subarray(0, length)) : Buffer.concat([content, Buffer.alloc(length - content.length)]);
}

/** A small seeded PRNG (mulberry32): the same seed gives the same crash. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
