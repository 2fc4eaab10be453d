/**
 * Helpers shared by the image tests: tree dumps to compare snapshots with each other and with
 * real directories, random trees, and hand-made tar archives (including hostile ones).
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { openStore } from '../../src/index.js';
import type { Layer, Store } from '../../src/index.js';
import { TarWriter, type TarWriterHeader } from '../../src/image/tar/index.js';
import { encodePax } from '../../src/image/tar/pax.js';
import { BLOCK_SIZE, encodeUstar } from '../../src/image/tar/ustar.js';

export const openMemoryStore = (): Promise<Store> => openStore({ workers: 0, blockSize: 4096 });

/** One entry of a dumped tree. `link` names the first path (in sorted order) of its inode when it has several. */
export interface Node {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
  size?: number;
  sha?: string;
  target?: string;
  link?: string;
}

export interface DumpOptions {
  /** Mask applied to modes (a host tree has no setuid, setgid, sticky after exportTree). */
  modeMask?: number;
  /** Leave out symbolic links' own owner and mtime (a `Layer` cannot set them). Default true. */
  skipSymlinkMeta?: boolean;
  /** Leave out every owner (a host tree written without root keeps none). */
  skipOwners?: boolean;
}

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

interface StatsLike {
  mode: number; uid: number; gid: number; mtimeMs: number; size: number; nlink: number; ino: number;
  isDirectory(): boolean; isSymbolicLink(): boolean;
}

/** What a dump reads a tree through: a snapshot's `Layer`, or a real directory. */
interface TreeReader {
  lstat(path: string): Promise<StatsLike>;
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  readFile(path: string): Promise<Uint8Array>;
}

/** Every path of a tree (the root as `/`), with what a round trip must keep. */
async function dump(reader: TreeReader, options: DumpOptions): Promise<Record<string, Node>> {
  const out: Record<string, Node> = {};
  const firstName = new Map<number, string>();
  const visit = async (path: string): Promise<void> => {
    const stats = await reader.lstat(path);
    const node = describe(stats, options);
    out[path] = node;
    if (stats.isDirectory()) {
      for (const name of await reader.readdir(path)) await visit(path === '/' ? `/${name}` : `${path}/${name}`);
      return;
    }
    if (stats.nlink > 1) {
      const first = firstName.get(stats.ino);
      if (first === undefined) firstName.set(stats.ino, path);
      node.link = first ?? path;
    }
    if (stats.isSymbolicLink()) node.target = await reader.readlink(path);
    else node.sha = sha(await reader.readFile(path));
  };
  await visit('/');
  return out;
}

/** A snapshot's tree. */
export function dumpLayer(layer: Layer, options: DumpOptions = {}): Promise<Record<string, Node>> {
  return dump({
    lstat: (path) => layer.lstat(path),
    readdir: (path) => layer.readdir(path),
    readlink: (path) => layer.readlink(path),
    readFile: (path) => layer.readFile(path),
  }, options);
}

/** A real directory's tree (as `exportTree`, GNU tar or umoci leave it), in the same form. */
export function dumpHost(dir: string, options: DumpOptions = {}): Promise<Record<string, Node>> {
  const host = (path: string): string => join(dir, path);
  return dump({
    lstat: (path) => lstat(host(path)),
    readdir: async (path) => (await readdir(host(path))).sort(),
    readlink: (path) => readlink(host(path)),
    readFile: (path) => readFile(host(path)),
  }, options);
}

function describe(stats: StatsLike, options: DumpOptions): Node {
  const type = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'file';
  const node: Node = { type, mode: stats.mode & (options.modeMask ?? 0o7777) };
  if (type !== 'symlink' || options.skipSymlinkMeta === false) {
    if (options.skipOwners !== true) {
      node.uid = stats.uid;
      node.gid = stats.gid;
    }
    node.mtimeMs = Math.floor(stats.mtimeMs);
  }
  if (type === 'file') node.size = stats.size;
  if (type === 'symlink') node.mode = 0o777;
  return node;
}

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Every key in the store, sorted. */
export async function keys(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.walk()) out.push(info.key);
  return out;
}

// ---- archives ------------------------------------------------------------------------------

export interface TarInput {
  header: TarWriterHeader;
  body?: Uint8Array;
}

/** An archive as our writer makes it. */
export async function makeTar(entries: readonly TarInput[]): Promise<Buffer> {
  const writer = new TarWriter();
  const done = collect(writer);
  for (const { header, body } of entries) await writer.add(header, body);
  await writer.finish();
  return done;
}

const encoder = new TextEncoder();

/**
 * One raw entry: a ustar header block with any name (even ones `TarWriter` refuses: empty, or
 * with a NUL), optional pax records before it, and its body padded.
 */
export function rawEntry(fields: {
  name: string; typeflag?: string; size?: number; body?: Uint8Array; mode?: number; linkname?: string;
  devMajor?: number; devMinor?: number; pax?: Array<[string, Uint8Array]>;
}): Buffer {
  const parts: Uint8Array[] = [];
  if (fields.pax !== undefined) {
    const data = encodePax(fields.pax);
    parts.push(ustar({ name: 'PaxHeaders/x', typeflag: 'x', size: data.length }), pad(data));
  }
  const body = fields.body ?? new Uint8Array(0);
  parts.push(ustar({ ...fields, size: fields.size ?? body.length }), pad(body));
  return Buffer.concat(parts);
}

function ustar(fields: { name: string; typeflag?: string; size?: number; mode?: number; linkname?: string; devMajor?: number; devMinor?: number }): Uint8Array {
  return encodeUstar({
    name: encoder.encode(fields.name), prefix: new Uint8Array(0), linkname: encoder.encode(fields.linkname ?? ''),
    uname: new Uint8Array(0), gname: new Uint8Array(0), mode: fields.mode ?? 0o644, uid: 0, gid: 0,
    size: fields.size ?? 0, mtime: 1_600_000_000, typeflag: fields.typeflag ?? '0',
    devMajor: fields.devMajor ?? 0, devMinor: fields.devMinor ?? 0,
  });
}

function pad(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / BLOCK_SIZE) * BLOCK_SIZE);
  out.set(bytes);
  return out;
}

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK_SIZE);

// ---- random trees --------------------------------------------------------------------------

export type TreeOp =
  | { kind: 'dir'; path: string; mode: number; uid: number; gid: number }
  | { kind: 'file'; path: string; mode: number; uid: number; gid: number; size: number; seed: number }
  | { kind: 'symlink'; path: string; target: string }
  /** `from` picks one of the regular files the tree has at that moment. */
  | { kind: 'hardlink'; path: string; from: number }
  | { kind: 'rm'; path: string }
  | { kind: 'recreate'; path: string; mode: number }
  | { kind: 'replace'; path: string; seed: number };

/**
 * Few names, so that operations often meet (a link to a file made earlier, a directory made
 * again): directories from one small set, files and links from another, at most 3 levels down.
 */
const dirNames = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('a', 'b') }, { weight: 1, arbitrary: fc.constantFrom('é', 'x y') });
const leafNames = fc.constantFrom('f', 'g', 'h', 'ü');
const dirs = fc.array(dirNames, { minLength: 0, maxLength: 2 }).map((parts) => parts.map((part) => `/${part}`).join(''));
const dirPaths = fc.tuple(dirs, dirNames).map(([dir, name]) => `${dir}/${name}`);
const leafPaths = fc.tuple(dirs, leafNames).map(([dir, name]) => `${dir}/${name}`);
const anyPaths = fc.oneof(dirPaths, leafPaths);
const owners = fc.constantFrom(0, 0, 1000, 65534, 123456);
/** Sizes around the 4 KiB blocks: empty, small, exact, one over, multi-block. */
const sizes = fc.constantFrom(0, 1, 100, 4095, 4096, 4097, 3 * 4096 + 5, 70_000);

export const createOps = fc.oneof(
  fc.record({ kind: fc.constant('dir' as const), path: dirPaths, mode: fc.constantFrom(0o755, 0o700, 0o1777, 0o2755), uid: owners, gid: owners }),
  fc.record({ kind: fc.constant('file' as const), path: leafPaths, mode: fc.constantFrom(0o644, 0o600, 0o4755, 0o2711, 0o6755), uid: owners, gid: owners, size: sizes, seed: fc.nat() }),
  fc.record({ kind: fc.constant('symlink' as const), path: leafPaths, target: fc.constantFrom('a', '../b', '/c/d', 'x y', 'é/é') }),
  fc.record({ kind: fc.constant('hardlink' as const), path: leafPaths, from: fc.nat() }),
  fc.record({ kind: fc.constant('hardlink' as const), path: leafPaths, from: fc.nat() }),
);

export const changeOps = fc.oneof(
  createOps,
  fc.record({ kind: fc.constant('rm' as const), path: anyPaths }),
  fc.record({ kind: fc.constant('recreate' as const), path: anyPaths, mode: fc.constantFrom(0o755, 0o711) }),
  fc.record({ kind: fc.constant('replace' as const), path: anyPaths, seed: fc.nat() }),
);

/** Deterministic bytes: a run of zeros (a hole) in the middle of bigger files. */
export function content(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let state = seed | 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  if (size > 3 * 4096) out.fill(0, 4096, 8192);
  return out;
}

/**
 * Applies `ops` to a writable layer, skipping any the tree refuses (a name taken, a parent that is
 * a file); parents are made as needed. Then gives every entry whose mtime has a fraction of a
 * second a whole-second one, as a tar stores.
 */
export async function applyOps(layer: Layer, ops: readonly TreeOp[]): Promise<void> {
  const tolerate = async (task: () => Promise<unknown>): Promise<void> => {
    try {
      await task();
    } catch (error) {
      if (typeof (error as { code?: unknown }).code !== 'string') throw error;
    }
  };
  for (const op of ops) {
    const parent = op.path.slice(0, op.path.lastIndexOf('/')) || '/';
    await tolerate(async () => {
      if (op.kind !== 'rm') await layer.mkdir(parent, { recursive: true });
      switch (op.kind) {
        case 'dir':
          await layer.mkdir(op.path, { mode: op.mode });
          await layer.chown(op.path, op.uid, op.gid);
          break;
        case 'file':
          await layer.writeFile(op.path, content(op.size, op.seed), { mode: op.mode });
          await layer.chown(op.path, op.uid, op.gid);
          await layer.chmod(op.path, op.mode);
          break;
        case 'symlink':
          await layer.symlink(op.target, op.path);
          break;
        case 'hardlink': {
          const files = await regularFiles(layer, '/');
          if (files.length > 0) await layer.link(files[op.from % files.length]!, op.path);
          break;
        }
        case 'rm':
          await layer.rm(op.path, { recursive: true });
          break;
        case 'recreate':
          await layer.rm(op.path, { recursive: true });
          await layer.mkdir(op.path, { mode: op.mode });
          break;
        case 'replace':
          await layer.rm(op.path, { recursive: true });
          await layer.writeFile(op.path, content(10, op.seed));
          break;
      }
    });
  }
  await wholeSeconds(layer, '/');
}

async function regularFiles(layer: Layer, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await layer.readdir(dir, { withFileTypes: true })) {
    const path = dir === '/' ? `/${entry.name}` : `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await regularFiles(layer, path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

async function wholeSeconds(layer: Layer, path: string): Promise<void> {
  const stats = await layer.lstat(path);
  if (stats.isSymbolicLink()) return;
  if (stats.isDirectory()) {
    for (const name of await layer.readdir(path)) await wholeSeconds(layer, path === '/' ? `/${name}` : `${path}/${name}`);
  }
  if (stats.mtimeMs % 1000 !== 0) {
    const time = new Date(Math.floor(stats.mtimeMs / 1000) * 1000 - 86_400_000);
    await layer.utimes(path, time, time);
  }
}
