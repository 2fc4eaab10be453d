import { chmod, lchown, link, lstat, lutimes, mkdir, readFile, readdir, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TarReader, maybeGunzip } from '../../src/image/tar/index.js';
import type { Change, Layer, Store } from '../../src/index.js';
import { requireTools, sh } from './kernel.js';

/**
 * cowstack layers in overlayfs's own on-disk format (Documentation/filesystems/overlayfs.rst,
 * "whiteouts and opaque directories"): one real directory per layer, holding what the layer
 * adds or changes as plain files, directories, symbolic links and hard links, a deleted name as a
 * whiteout (a character device 0/0 of that name), and a directory that hides everything below it
 * as an opaque one (xattr `trusted.overlay.opaque` = `y`). The root directory of a layer carries
 * the root's metadata, as containerd's overlay snapshotter gives every new upper directory.
 *
 * Two converters, one from cowstack's own diff and one from an OCI layer tar:
 * - `writeSnapshotLayer(store, key, dir)`: `store.diff(key)` plus contents read through mounted
 *   `Layer`s of `key` and its parent.
 * - `writeOciLayer(tar, dir, lower)`: an OCI layer (what `exportLayer` gives), `.wh.NAME` as a
 *   whiteout, `.wh..wh..opq` as an opaque directory.
 *
 * Hard links. A layer directory is self-contained: a file cannot be a hard link to a file of the
 * layer below (nor can containerd's or docker's extraction make one). So when a layer changes
 * the names of an inode — adds a name to a file that a lower layer holds, removes one of several
 * names, or moves a name to another inode — both converters write every surviving name of that
 * inode into the layer, as one file with hard links, just as overlayfs's copy-up with
 * `index=on` does. Then the link groups, and the link counts, of the merged view are the
 * snapshot's. (`store.diff` alone cannot say this: it does not compare inode identity, see
 * design.md; the converters compare the names of each inode in both trees.)
 */

export interface Meta {
  /** Permission bits with setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

/** What a layer directory holds at a path. */
type Kind = 'dir' | 'file' | 'symlink' | 'whiteout';

export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** A root without metadata of its own: what an empty snapshot has (API.md). */
const DEFAULT_ROOT: Meta = { mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 };

function metaOf(stats: { mode: number; uid: number; gid: number; mtimeMs: number }): Meta {
  return { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, mtimeMs: stats.mtimeMs };
}

function ancestors(rel: string): string[] {
  const out: string[] = [];
  for (let slash = rel.indexOf('/'); slash !== -1; slash = rel.indexOf('/', slash + 1)) out.push(rel.slice(0, slash));
  return out;
}

function isBelow(rel: string, dir: string): boolean {
  return rel.startsWith(`${dir}/`);
}

/**
 * Builds one layer directory. Paths are relative (`a/b`; `''` is the root). Whiteouts and opaque
 * marks are recorded and made by `finish()` (one `mknod` run and one `setfattr` run per layer),
 * after the directories holding them exist; directory metadata is applied last, deepest first,
 * so that making entries does not disturb it.
 */
export class OverlayLayerWriter {
  readonly dir: string;
  readonly #kinds = new Map<string, Kind>();
  readonly #opaque = new Set<string>();
  readonly #dirMeta = new Map<string, Meta>();
  #rootMeta: Meta | undefined;
  #pulledUp = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A writer into `dir`, which must be missing or empty. */
  static async create(dir: string): Promise<OverlayLayerWriter> {
    await mkdir(dir, { recursive: true });
    if ((await readdir(dir)).length > 0) throw new Error(`${dir} is not empty`);
    return new OverlayLayerWriter(dir);
  }

  #host(rel: string): string {
    return rel === '' ? this.dir : join(this.dir, rel);
  }

  kind(rel: string): Kind | undefined {
    return this.#kinds.get(rel);
  }

  /**
   * Whether this layer hides what the layers below have at `rel`: an entry or a whiteout of this
   * layer at `rel`, or above it a whiteout, a non-directory, or an opaque directory.
   */
  hides(rel: string): boolean {
    for (const dir of ancestors(rel)) {
      const kind = this.#kinds.get(dir);
      if (kind !== undefined && kind !== 'dir') return true;
      if (this.#opaque.has(dir)) return true;
    }
    return this.#kinds.has(rel);
  }

  #checkParent(rel: string): void {
    const slash = rel.lastIndexOf('/');
    if (slash !== -1 && this.#kinds.get(rel.slice(0, slash)) !== 'dir') throw new Error(`${rel}: its directory is not in the layer`);
    const kind = this.#kinds.get(rel);
    if (kind !== undefined && kind !== 'whiteout') throw new Error(`${rel} is written twice`);
  }

  /** A directory (made when missing; a second call only replaces the metadata). */
  async directory(rel: string, meta: Meta): Promise<void> {
    if (rel === '') {
      this.#rootMeta = meta;
      return;
    }
    if (this.#kinds.get(rel) !== 'dir') {
      this.#checkParent(rel);
      await mkdir(this.#host(rel), { mode: 0o700 });
      this.#kinds.set(rel, 'dir');
    }
    this.#dirMeta.set(rel, meta);
  }

  hasRootMeta(): boolean {
    return this.#rootMeta !== undefined;
  }

  async file(rel: string, meta: Meta, data: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    this.#checkParent(rel);
    await writeFile(this.#host(rel), data, { flag: 'wx', mode: 0o600 });
    this.#kinds.set(rel, 'file');
    await applyMeta(this.#host(rel), meta);
  }

  async symlink(rel: string, target: string, meta: Meta): Promise<void> {
    this.#checkParent(rel);
    await symlink(target, this.#host(rel));
    this.#kinds.set(rel, 'symlink');
    await lchown(this.#host(rel), meta.uid, meta.gid);
    await lutimes(this.#host(rel), new Date(meta.mtimeMs), new Date(meta.mtimeMs));
  }

  /** A second name of a file or symbolic link this layer holds. */
  async link(rel: string, existing: string): Promise<void> {
    const kind = this.#kinds.get(existing);
    if (kind !== 'file' && kind !== 'symlink') throw new Error(`hard link ${rel} to ${existing}, which is not in the layer`);
    this.#checkParent(rel);
    await link(this.#host(existing), this.#host(rel));
    this.#kinds.set(rel, kind);
  }

  whiteout(rel: string): void {
    this.#checkParent(rel);
    this.#kinds.set(rel, 'whiteout');
  }

  /** Marks a directory of this layer opaque: nothing below it in lower layers shows. */
  opaque(rel: string): void {
    if (this.#kinds.get(rel) !== 'dir') throw new Error(`opaque ${rel}: not a directory of the layer`);
    this.#opaque.add(rel);
  }

  /** Writes the whiteouts, opaque marks and directory metadata; returns what the layer holds. */
  async finish(): Promise<LayerCounts> {
    const { mknod, setfattr } = requireTools();
    const whiteouts = [...this.#kinds].filter(([, kind]) => kind === 'whiteout').map(([rel]) => this.#host(rel));
    if (whiteouts.length > 0) await sh('/bin/sh', ['-c', 'for p do "$0" "$p" c 0 0 || exit 1; done', mknod, ...whiteouts]);
    if (this.#opaque.size > 0) await sh(setfattr, ['-n', OPAQUE_XATTR, '-v', 'y', ...[...this.#opaque].map((rel) => this.#host(rel))]);
    const dirs = [...this.#dirMeta].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [rel, meta] of dirs) await applyMeta(this.#host(rel), meta);
    await applyMeta(this.dir, this.#rootMeta ?? DEFAULT_ROOT);
    return { entries: this.#kinds.size - whiteouts.length, whiteouts: whiteouts.length, opaque: this.#opaque.size, pulledUp: this.#pulledUp };
  }

  /** Counts names written only to keep a lower inode's names together (see the module comment). */
  notePulledUp(names: number): void {
    this.#pulledUp += names;
  }
}

/** What one layer directory holds. */
export interface LayerCounts {
  /** Files, directories and symbolic links (hard links counted per name). */
  entries: number;
  whiteouts: number;
  opaque: number;
  /** Names written only to keep a lower inode's names together. */
  pulledUp: number;
}

async function applyMeta(host: string, meta: Meta): Promise<void> {
  await lchown(host, meta.uid, meta.gid);
  await chmod(host, meta.mode);
  await utimes(host, new Date(meta.mtimeMs), new Date(meta.mtimeMs));
}

interface InodeName {
  dir: boolean;
  ino: number;
}

/** Every path of a layer's tree (root excluded) with its type and inode number. */
async function inodeTable(layer: Layer): Promise<Map<string, InodeName>> {
  const table = new Map<string, InodeName>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of await layer.readdir(dir)) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const stats = await layer.lstat(path);
      table.set(path, { dir: stats.isDirectory(), ino: stats.ino });
      if (stats.isDirectory()) await walk(path);
    }
  };
  await walk('/');
  return table;
}

/** Inode number → its names (sorted), for the non-directories of a table. */
function namesByInode(table: ReadonlyMap<string, InodeName>): Map<number, string[]> {
  const names = new Map<number, string[]>();
  for (const [path, { dir, ino }] of table) {
    if (dir) continue;
    const list = names.get(ino);
    if (list === undefined) names.set(ino, [path]);
    else list.push(path);
  }
  for (const list of names.values()) list.sort();
  return names;
}

/**
 * Writes committed snapshot `key`'s layer — `store.diff(key)` against its parent — into `dir` in
 * overlayfs's format. A directory listed as changed whose inode differs from the parent's at the
 * same path (deleted and made again) becomes opaque, with its whole subtree; any other changed
 * directory merges with the one below, deletions inside it being whiteouts.
 */
export async function writeSnapshotLayer(store: Store, key: string, dir: string): Promise<LayerCounts> {
  const info = await store.stat(key);
  const layer = await store.mount(key);
  const base = info.parent === undefined ? undefined : await store.mount(info.parent);
  const changes: Change[] = [];
  for await (const change of store.diff(key)) changes.push(change);
  const now = await inodeTable(layer);
  const before = base === undefined ? new Map<string, InodeName>() : await inodeTable(base);

  const dirs = new Set<string>();
  const nonDirs = new Set<string>();
  const whiteouts = new Set<string>();
  const opaque = new Set<string>();
  for (const { path, kind } of changes) {
    if (path === '/' || [...opaque].some((o) => isBelow(path, o))) continue;
    if (kind === 'deleted') {
      // Below a name that is no longer a directory there is nothing left to hide.
      if (ancestors(path.slice(1)).every((a) => now.get(`/${a}`)?.dir === true)) whiteouts.add(path);
      continue;
    }
    const entry = now.get(path);
    if (entry === undefined) throw new Error(`diff(${key}) lists ${path} as ${kind}, but ${key} has no such path`);
    if (!entry.dir) {
      nonDirs.add(path);
      continue;
    }
    dirs.add(path);
    const old = before.get(path);
    if (old?.dir === true && old.ino !== entry.ino) {
      opaque.add(path);
      for (const [below, e] of now) if (isBelow(below, path)) (e.dir ? dirs : nonDirs).add(below);
    }
  }

  // Hard links: every name of an inode whose set of names changed, then every name of an inode
  // any of whose names is written, so a written inode is whole in this layer.
  const namesNow = namesByInode(now);
  const namesBefore = namesByInode(before);
  for (const [path, entry] of now) {
    if (entry.dir) continue;
    const group = namesNow.get(entry.ino)!;
    const old = before.get(path);
    const oldGroup = old === undefined || old.dir ? [] : namesBefore.get(old.ino)!;
    if ((group.length > 1 || oldGroup.length > 1) && group.join('\0') !== oldGroup.join('\0')) nonDirs.add(path);
  }
  for (const path of [...nonDirs]) for (const name of namesNow.get(now.get(path)!.ino)!) nonDirs.add(name);
  for (const path of [...dirs, ...nonDirs, ...whiteouts]) for (const a of ancestors(path.slice(1))) dirs.add(`/${a}`);

  const out = await OverlayLayerWriter.create(dir);
  for (const path of [...dirs].sort(byDepth)) await out.directory(path.slice(1), metaOf(await layer.lstat(path)));
  const firstName = new Map<number, string>();
  for (const path of [...nonDirs].sort()) {
    const stats = await layer.lstat(path);
    const first = firstName.get(stats.ino);
    if (first !== undefined) {
      await out.link(path.slice(1), first);
      continue;
    }
    firstName.set(stats.ino, path.slice(1));
    if (stats.isSymbolicLink()) await out.symlink(path.slice(1), await layer.readlink(path), metaOf(stats));
    else await out.file(path.slice(1), metaOf(stats), await layer.readFile(path));
  }
  for (const path of whiteouts) out.whiteout(path.slice(1));
  for (const path of opaque) out.opaque(path.slice(1));
  await out.directory('', metaOf(await layer.lstat('/')));
  const listed = new Set(changes.map((c) => c.path));
  out.notePulledUp([...nonDirs].filter((path) => !listed.has(path) && ![...opaque].some((o) => isBelow(path, o))).length);
  return out.finish();
}

function byDepth(a: string, b: string): number {
  return a.split('/').length - b.split('/').length || (a < b ? -1 : a > b ? 1 : 0);
}

/** A tar name as a relative path: no `./` or `/` in front, no `/` at the end; `''` for the root. */
function relativeName(name: string): string {
  let rel = name;
  while (rel.startsWith('./')) rel = rel.slice(2);
  rel = rel.replace(/^\/+/, '').replace(/\/+$/, '');
  if (rel === '' || rel === '.') return '';
  if (rel.split('/').some((part) => part === '..' || part === '.' || part === '')) throw new Error(`tar entry ${JSON.stringify(name)}: not a plain relative path`);
  return rel;
}

/**
 * Writes an OCI layer tar (plain or gzip'd) into `dir` in overlayfs's format, to be stacked on
 * `lower`: a directory showing the merged layers below (an overlay mount of them), read for what
 * the tar refers to but does not hold — the metadata of parent directories it leaves out, the
 * root's metadata when it has no `./` entry, and the files behind hard links to names of lower
 * layers (see the module comment). Without `lower` the layer must stand alone.
 */
export async function writeOciLayer(source: AsyncIterable<Uint8Array>, dir: string, lower?: string): Promise<LayerCounts> {
  const out = await OverlayLayerWriter.create(dir);
  const lowerMeta = async (rel: string): Promise<Meta> => (lower === undefined ? DEFAULT_ROOT : metaOf(await lstat(rel === '' ? lower : join(lower, rel))));
  const ensureParents = async (rel: string): Promise<void> => {
    for (const a of ancestors(rel)) if (out.kind(a) !== 'dir') await out.directory(a, await lowerMeta(a));
  };
  const pending: { path: string; target: string }[] = [];
  for await (const { header, body } of new TarReader(maybeGunzip(source))) {
    const rel = relativeName(header.path);
    const meta = metaOf(header);
    if (rel === '') {
      if (header.type !== 'directory') throw new Error(`tar entry ${header.path}: the root must be a directory`);
      await out.directory('', meta);
      continue;
    }
    await ensureParents(rel);
    const slash = rel.lastIndexOf('/');
    const parent = slash === -1 ? '' : rel.slice(0, slash);
    const name = rel.slice(slash + 1);
    if (name === '.wh..wh..opq') {
      if (parent === '') throw new Error('an opaque whiteout at the root of a layer');
      out.opaque(parent);
    } else if (name.startsWith('.wh.')) {
      out.whiteout(parent === '' ? name.slice(4) : `${parent}/${name.slice(4)}`);
    } else if (header.type === 'directory') {
      await out.directory(rel, meta);
    } else if (header.type === 'file') {
      await out.file(rel, meta, body);
    } else if (header.type === 'symlink') {
      await out.symlink(rel, header.linkTarget, meta);
    } else if (header.type === 'hardlink') {
      const target = relativeName(header.linkTarget);
      const kind = out.kind(target);
      if (kind === 'file' || kind === 'symlink') await out.link(rel, target);
      else pending.push({ path: rel, target });
    } else {
      throw new Error(`tar entry ${header.path}: type ${header.type} has no place in a cowstack layer`);
    }
  }
  if (lower === undefined) {
    if (pending.length > 0) throw new Error(`hard links to names the layer does not hold, and no lower layers: ${pending.map((p) => p.path).join(', ')}`);
  } else {
    await pullUpInodes(out, lower, pending, ensureParents);
  }
  if (!out.hasRootMeta()) await out.directory('', await lowerMeta(''));
  return out.finish();
}

/**
 * Writes into the layer every surviving name of each lower inode that the layer links to, or of
 * which it removed or replaced some names (so its other names would keep a stale link count):
 * one copy of the lower file, and hard links to it for the other names and the tar's links.
 */
async function pullUpInodes(
  out: OverlayLayerWriter,
  lower: string,
  pending: readonly { path: string; target: string }[],
  ensureParents: (rel: string) => Promise<void>,
): Promise<void> {
  const lowerNames = new Map<number, string[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(rel === '' ? lower : join(lower, rel))).sort()) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const stats = await lstat(join(lower, child));
      if (stats.isDirectory()) await walk(child);
      else if (stats.nlink > 1) lowerNames.set(stats.ino, [...(lowerNames.get(stats.ino) ?? []), child]);
    }
  };
  await walk('');
  const jobs = new Map<number, { names: readonly string[]; links: string[] }>();
  for (const { path, target } of pending) {
    if (out.hides(target)) throw new Error(`hard link ${path} to ${target}, which the layer itself hides`);
    const stats = await lstat(join(lower, target));
    const job = jobs.get(stats.ino) ?? { names: lowerNames.get(stats.ino) ?? [target], links: [] };
    job.links.push(path);
    jobs.set(stats.ino, job);
  }
  for (const [ino, names] of lowerNames) {
    if (!jobs.has(ino) && names.some((name) => out.hides(name))) jobs.set(ino, { names, links: [] });
  }
  for (const { names, links } of jobs.values()) {
    const survivors = names.filter((name) => !out.hides(name));
    const first = survivors[0];
    if (first === undefined) continue;
    const stats = await lstat(join(lower, first));
    out.notePulledUp(survivors.length);
    await ensureParents(first);
    if (stats.isSymbolicLink()) await out.symlink(first, await readlink(join(lower, first)), metaOf(stats));
    else await out.file(first, metaOf(stats), await readFile(join(lower, first)));
    for (const other of [...survivors.slice(1), ...links]) {
      await ensureParents(other);
      await out.link(other, first);
    }
  }
}

/**
 * The names of `key` that `store.diff(key)` leaves out although their inode changed: a name
 * re-linked to another inode whose content and metadata are equal (design.md, "diff semantics":
 * inode identity is deliberately not compared, so `exportLayer` cannot carry such a regrouping of
 * hard links). With every other name of the inodes involved, before and after.
 */
export async function regroupedNames(store: Store, key: string): Promise<Set<string>> {
  const info = await store.stat(key);
  if (info.parent === undefined) return new Set();
  const now = await inodeTable(await store.mount(key));
  const before = await inodeTable(await store.mount(info.parent));
  const listed = new Set<string>();
  for await (const change of store.diff(key)) listed.add(change.path);
  const namesNow = namesByInode(now);
  const namesBefore = namesByInode(before);
  const out = new Set<string>();
  for (const [path, entry] of now) {
    const old = before.get(path);
    if (entry.dir || old === undefined || old.dir || old.ino === entry.ino || listed.has(path)) continue;
    for (const name of [path, ...namesNow.get(entry.ino)!, ...namesBefore.get(old.ino)!]) out.add(name);
  }
  return out;
}
