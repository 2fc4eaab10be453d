import { Readable } from 'node:stream';
import type { Change } from '../core/diff.js';
import { hasCode } from '../core/errors.js';
import type { Layer } from '../layer/Layer.js';
import type { Stats } from '../layer/Stats.js';
import type { LongOperation, Store } from '../snapshots/Store.js';
import { checkAborted } from './oci/byteStream.js';
import { joinPath } from './oci/LayerPaths.js';
import { TarWriter, gzip as gzipStream, type TarWriterHeader } from './tar/index.js';

export interface ExportLayerOptions extends LongOperation {
  /** The snapshot the layer applies on: default `key`'s parent; `null`: nothing (a full layer). */
  base?: string | null;
  /** Gzip the tar (deterministically: no name, no time in the gzip header). */
  gzip?: boolean;
}

const SYSCALL = 'exportLayer';
/** Bytes of a file read through the layer at once. */
const READ_CHUNK = 1024 * 1024;
/** The metadata of a snapshot's root without parent, against which an exported root is compared. */
const EMPTY_ROOT = { mode: 0o755, uid: 0, gid: 0, mtimeMs: 0 };

/**
 * An OCI layer tar (image-spec layer.md, "Representing Changes") of `store.diff(key, base)`: what
 * turns `base` (default: `key`'s parent; `null`: an empty root) into `key`. Re-importing it with
 * `importLayer` on `base` gives `key`'s tree (symbolic links' own owner and time aside: `Layer`
 * cannot set them; and times to the second, which is what `TarWriter` stores).
 *
 * - Added and modified paths in full: directories, files (content streamed through the `Layer`,
 *   never held), symbolic links; the second and later names of one inode (`ino`, `nlink > 1`) as
 *   `hardlink` entries to the first name written, or to a name `base` already has and the diff
 *   leaves alone, so hard-link groups survive. Modes with setuid, setgid and sticky; uid, gid,
 *   mtime; no user or group names.
 * - Every directory above an entry is written before it (as containerd's `ChangeWriter` does),
 *   and the root as `./` when its metadata differs from `base`'s.
 * - A deleted path as `DIR/.wh.NAME` (a regular file, mode 0, time 0).
 * - A directory deleted and made again (a directory at the same path in both, with another `ino`)
 *   as the directory, `DIR/.wh..wh..opq`, and then everything below it.
 * - Order: the diff's (by path, component by component), so parents come before children, and
 *   the same snapshots always give the same bytes.
 *
 * The stream errors with the diff's errors (`ENOENT` for a missing `key` or `base`), and with
 * `ABORT_ERR` once `signal` is aborted. Progress: `{ done, unit: 'bytes' }` of output. Stopping
 * early (destroying the stream) stops reading the snapshot.
 */
export function exportLayer(store: Store, key: string, options: ExportLayerOptions = {}): Readable {
  return Readable.from(layerBytes(store, key, options), { objectMode: false });
}

async function* layerBytes(store: Store, key: string, options: ExportLayerOptions): AsyncGenerator<Uint8Array, void, undefined> {
  checkAborted(options.signal, SYSCALL, key);
  const writer = new TarWriter();
  let failure: { error: unknown } | undefined;
  // A failed producer finishes the archive, which wakes the writer; the failure is thrown here
  // before the end of the archive (or any later byte) is handed out.
  writeLayer(store, key, options, writer)
    .catch((error: unknown) => {
      failure = { error };
    })
    .finally(() => writer.finish().catch(() => undefined));
  const stream: AsyncIterable<Uint8Array> = options.gzip === true ? gzipStream(writer) : writer;
  let done = 0;
  for await (const chunk of stream) {
    if (failure !== undefined) throw failure.error;
    checkAborted(options.signal, SYSCALL, key);
    done += chunk.length;
    options.onProgress?.({ done, unit: 'bytes' });
    yield chunk;
  }
  if (failure !== undefined) throw failure.error;
}

async function writeLayer(store: Store, key: string, options: ExportLayerOptions, writer: TarWriter): Promise<void> {
  const info = await store.stat(key);
  const baseKey = options.base === undefined ? info.parent : options.base ?? undefined;
  const changes: Change[] = [];
  for await (const change of store.diff(key, options.base)) changes.push(change);
  const layer = await store.mount(key);
  const base = baseKey === undefined ? undefined : await store.mount(baseKey);
  const exporter = new LayerExporter(layer, base, writer, changes, options.signal, key);
  await exporter.writeRoot();
  for (const change of changes) await exporter.write(change);
}

/** Writes the entries of one diff into a tar writer, in the diff's order. */
class LayerExporter {
  readonly #layer: Layer;
  readonly #base: Layer | undefined;
  readonly #writer: TarWriter;
  readonly #signal: AbortSignal | undefined;
  readonly #key: string;
  /** Paths added or modified: they are written, so a hard link may not point at their old inode. */
  readonly #changed: ReadonlySet<string>;
  /** Directories written so far. */
  readonly #written = new Set<string>();
  /** Whether a directory was deleted and made again, by path, once asked. */
  readonly #replaced = new Map<string, boolean>();
  /** The replaced directory whose whole subtree was written last: changes below it are done. */
  #skipBelow: string | undefined;
  /** Inode number to the archive name a later name of it links to. */
  readonly #linkTo = new Map<number, string>();
  /** Every name of each inode with several, in `key`: made once, when a hard-linked inode is first met. */
  #names: Map<number, string[]> | undefined;

  constructor(layer: Layer, base: Layer | undefined, writer: TarWriter, changes: readonly Change[], signal: AbortSignal | undefined, key: string) {
    this.#layer = layer;
    this.#base = base;
    this.#writer = writer;
    this.#signal = signal;
    this.#key = key;
    this.#changed = new Set(changes.filter((change) => change.kind !== 'deleted').map((change) => change.path));
  }

  /**
   * `./` when the root's metadata differs from the base's (or, with no base, from a default
   * root): written here, before everything, whether or not the diff lists `/`.
   */
  async writeRoot(): Promise<void> {
    const now = await this.#layer.lstat('/');
    const before = this.#base === undefined ? EMPTY_ROOT : await this.#base.lstat('/');
    const same = (now.mode & 0o7777) === (before.mode & 0o7777) && now.uid === before.uid && now.gid === before.gid && now.mtimeMs === before.mtimeMs;
    if (!same) await this.#writer.add({ path: './', type: 'directory', ...meta(now) });
  }

  async write(change: Change): Promise<void> {
    checkAborted(this.#signal, SYSCALL, this.#key);
    const { path } = change;
    if (path === '/') return; // written by `writeRoot`
    if (this.#skipBelow !== undefined && isBelow(path, this.#skipBelow)) return;
    if (!(await this.#writeParents(path))) return;
    if (change.kind === 'deleted') {
      const slash = path.lastIndexOf('/');
      await this.#writer.add({ path: `${path.slice(1, slash + 1)}.wh.${path.slice(slash + 1)}`, type: 'file', mode: 0, mtimeMs: 0 });
      return;
    }
    const stats = await this.#layer.lstat(path);
    if (stats.isDirectory()) {
      if (await this.#isReplaced(path, stats)) await this.#writeReplaced(path, stats);
      else await this.#writeDir(path, stats);
    } else {
      await this.#writeNonDir(path, stats);
    }
  }

  /**
   * Writes the directories above `path` not yet written; false when one of them turned out to be
   * replaced, its whole subtree (with `path`) now written.
   */
  async #writeParents(path: string): Promise<boolean> {
    for (let slash = path.indexOf('/', 1); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const dir = path.slice(0, slash);
      if (this.#written.has(dir)) continue;
      const stats = await this.#layer.lstat(dir);
      if (await this.#isReplaced(dir, stats)) {
        await this.#writeReplaced(dir, stats);
        return false;
      }
      await this.#writeDir(dir, stats);
    }
    return true;
  }

  /** Whether `path` is a directory in both trees, but not the same one. `stats`: `key`'s, when known. */
  async #isReplaced(path: string, stats?: Stats): Promise<boolean> {
    let replaced = this.#replaced.get(path);
    if (replaced === undefined) {
      stats ??= await this.#layer.lstat(path);
      const before = this.#base === undefined || !stats.isDirectory() ? undefined : await physicalLstat(this.#base, path);
      replaced = before !== undefined && before.isDirectory() && before.ino !== stats.ino;
      this.#replaced.set(path, replaced);
    }
    return replaced;
  }

  /** True when a directory above `path` was deleted and made again. */
  async #isBelowReplaced(path: string): Promise<boolean> {
    for (let slash = path.indexOf('/', 1); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const dir = path.slice(0, slash);
      if (await this.#isReplaced(dir)) return true;
    }
    return false;
  }

  /** The directory, an opaque whiteout in it, then everything below it. */
  async #writeReplaced(path: string, stats: Stats): Promise<void> {
    await this.#writeDir(path, stats);
    await this.#writer.add({ path: `${path.slice(1)}/.wh..wh..opq`, type: 'file', mode: 0, mtimeMs: 0 });
    this.#skipBelow = path;
    const walk = async (dir: string): Promise<void> => {
      for (const name of await this.#layer.readdir(dir)) {
        checkAborted(this.#signal, SYSCALL, this.#key);
        const child = joinPath(dir, name);
        const childStats = await this.#layer.lstat(child);
        if (childStats.isDirectory()) {
          await this.#writeDir(child, childStats);
          await walk(child);
        } else {
          await this.#writeNonDir(child, childStats);
        }
      }
    };
    await walk(path);
  }

  async #writeDir(path: string, stats: Stats): Promise<void> {
    if (this.#written.has(path)) return;
    this.#written.add(path);
    await this.#writer.add({ path: path.slice(1), type: 'directory', ...meta(stats) });
  }

  async #writeNonDir(path: string, stats: Stats): Promise<void> {
    const name = path.slice(1);
    if (stats.nlink > 1) {
      const target = this.#linkTo.get(stats.ino) ?? (await this.#keptName(path, stats.ino));
      if (target !== undefined) {
        this.#linkTo.set(stats.ino, target);
        await this.#writer.add({ path: name, type: 'hardlink', linkTarget: target, ...meta(stats) });
        return;
      }
      this.#linkTo.set(stats.ino, name);
    }
    if (stats.isSymbolicLink()) {
      await this.#writer.add({ path: name, type: 'symlink', linkTarget: await this.#layer.readlink(path), ...meta(stats) });
    } else {
      await this.#writer.add({ path: name, type: 'file', size: stats.size, ...meta(stats) }, this.#content(path, stats.size));
    }
  }

  /**
   * A name of inode `ino` other than `path` that the layer's importer already has, with this
   * inode's content: one in both trees that the diff leaves alone. Linking to it keeps the group.
   */
  async #keptName(path: string, ino: number): Promise<string | undefined> {
    for (const other of (await this.#inodeNames()).get(ino) ?? []) {
      if (other === path || this.#changed.has(other) || (await this.#isBelowReplaced(other))) continue;
      return other.slice(1);
    }
    return undefined;
  }

  async #inodeNames(): Promise<Map<number, string[]>> {
    if (this.#names !== undefined) return this.#names;
    const names = new Map<number, string[]>();
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await this.#layer.readdir(dir, { withFileTypes: true })) {
        const path = joinPath(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(path);
          continue;
        }
        const stats = await this.#layer.lstat(path);
        if (stats.nlink < 2) continue;
        const list = names.get(stats.ino);
        if (list === undefined) names.set(stats.ino, [path]);
        else list.push(path);
      }
    };
    await walk('/');
    this.#names = names;
    return names;
  }

  async *#content(path: string, size: number): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of this.#layer.createReadStream(path, { end: size - 1, highWaterMark: READ_CHUNK })) {
      checkAborted(this.#signal, SYSCALL, this.#key);
      yield chunk as Buffer;
    }
  }
}

function meta(stats: Stats): Pick<TarWriterHeader, 'mode' | 'uid' | 'gid' | 'mtimeMs'> {
  return { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, mtimeMs: stats.mtimeMs };
}

function isBelow(path: string, dir: string): boolean {
  return path.startsWith(`${dir}/`);
}

/**
 * `lstat` of `path` in `layer` where every directory above it is a real directory, or undefined:
 * a path reached through a symbolic link in the base is not the same place as in the snapshot
 * (the layer applier never writes through links), so it was never there.
 */
async function physicalLstat(layer: Layer, path: string): Promise<Stats | undefined> {
  for (let slash = path.indexOf('/', 1); slash !== -1; slash = path.indexOf('/', slash + 1)) {
    const above = await lstatOrUndefined(layer, path.slice(0, slash));
    if (above === undefined || !above.isDirectory()) return undefined;
  }
  return lstatOrUndefined(layer, path);
}

async function lstatOrUndefined(layer: Layer, path: string): Promise<Stats | undefined> {
  try {
    return await layer.lstat(path);
  } catch (error) {
    if (hasCode(error, 'ENOENT') || hasCode(error, 'ENOTDIR')) return undefined;
    throw error;
  }
}
