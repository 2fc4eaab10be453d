import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { fsError, hasCode, unlessMissing, type CowstackError } from '../core/errors.js';
import type { BlockRef } from '../core/BlockVector.js';
import type { Layer } from '../layer/Layer.js';
import { SnapshotLayer } from '../layer/SnapshotLayer.js';
import type { Stats } from '../layer/Stats.js';
import type { LongOperation, SnapshotInfo, Store } from '../snapshots/Store.js';
import { checkDigest, DigestStream, type Digest } from './digest.js';
import { checkAborted, counted, openSource, type LayerSource, type OpenedSource } from './oci/byteStream.js';
import { parseEntryName } from './oci/entryName.js';
import { LABEL_IMPORT_TARGET } from './oci/labels.js';
import { childOf, deleteChild, joinPath, pathNode, pendingTimes, setChild, type PathNode } from './oci/LayerPaths.js';
import { LAYER_LIMITS, WRITE_CHUNK, type LayerLimits } from './oci/limits.js';
import { TarReader, maybeGunzip, type TarEntry, type TarEntryHeader } from './tar/index.js';

export type { LayerSource };

export interface ImportLayerOptions extends LongOperation {
  /** Labels of the committed snapshot (a cowstack extension; `importImage` records history so). */
  labels?: Record<string, string>;
  /** Tighter or looser bounds than `LAYER_LIMITS`. */
  limits?: Partial<LayerLimits>;
}

/** What `importImage` knows a layer's bytes must hash to; a mismatch is `EINTEGRITY`. */
export interface LayerExpectation {
  /** Of the blob as stored (compressed or not), and its size when the descriptor gives one. */
  readonly digest?: Digest;
  readonly size?: number;
  /** Of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  readonly diffId?: Digest;
  /** Names the blob in errors. */
  readonly name: string;
}

const SYSCALL = 'importLayer';
/** The body of an entry whose bytes are not here (`applyLazyLayer`): files come with block ids instead. */
const NO_BODY: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: async function* () {} };
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** aufs' own metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): Docker skips these; they hide nothing. */
const WHITEOUT_META = '.wh..wh.';
/** Where a `Date` can hold a time, in milliseconds either side of the epoch. */
const MAX_TIME_MS = 8.64e15;
/** A directory the archive does not name but an entry needs: 0o755, 0:0, mtime 0, always the same. */
const IMPLICIT_DIR_MODE = 0o755;
const IMPLICIT_DIR_MTIME = 0;
/**
 * Codes a layer operation rejects with when the archive asks for something impossible (a name
 * too long, an owner out of range, a link to a directory…): the archive is bad, so the import
 * rejects with `EINVAL` naming the entry, the operation's error as `cause`.
 */
const BAD_ARCHIVE_CODES: ReadonlySet<string> = new Set([
  'ENOENT', 'EEXIST', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EINVAL', 'ELOOP', 'EPERM', 'ENAMETOOLONG', 'EFBIG', 'EBUSY',
]);

/**
 * Applies one OCI (or Docker) layer tar on committed `parent` (none: an empty root) and commits the
 * result as `key`, following the image-spec's "Applying Changesets" (layer.md) and containerd's
 * `archive.Apply`:
 *
 * - `source`: a path, a `Buffer` or a `Readable`; gzip is detected by its magic and undone.
 * - An entry replaces what is at its path (a whole directory included), except that a directory
 *   over a directory merges: only its metadata is applied. A directory's parents that the archive
 *   does not name are created (0o755, 0:0, mtime 0).
 * - `.wh.NAME` removes NAME and `DIR/.wh..wh..opq` everything in DIR, as the parent snapshot has
 *   them: a whiteout never hides an entry of its own layer, whatever their order in the archive
 *   (the spec's rule; containerd's naive apply differs for `.wh.NAME` after NAME). A whiteout below
 *   a missing directory hides nothing. `.wh..wh.*` names other than the opaque marker are aufs
 *   metadata and ignored, as Docker does.
 * - Files, directories, symbolic links and hard links (`link` to a name already in the layer
 *   being built) keep mode (setuid, setgid and sticky as metadata only), uid, gid and mtime.
 *   Symbolic links get 0o777, 0:0 and the import time: `Layer` cannot set a link's own owner or
 *   time. A hard link's header metadata is applied to its inode, as containerd does (but never
 *   through a symbolic link). Extended attributes (`SCHILY.xattr.*`) are dropped.
 * - Directory mtimes are set after every entry is in: the entry's own for directories the
 *   archive names; the one they had before for the parent's directories that entries were added to
 *   or removed from. So the tree is a function of the parent and the archive's bytes alone.
 *
 * Rejects with `EINVAL` (syscall `importLayer`, `path` the entry's name as stored) for: a name that
 * `parseEntryName` rejects (absolute, `..`, empty, `.`, `/`, …); an entry whose path passes through
 * a symbolic link or a non-directory of the layer being built (its own earlier entries included);
 * a `.wh.` name that is not a regular file, a bare `.wh.`, `.wh..`, `.wh...`, or a `.wh.` component
 * above the last; a hard link whose target is not a valid name, missing, a directory or itself;
 * an empty symlink target; a character or block device (a 0/0 character device is an overlayfs
 * whiteout on disk, never in an OCI tar), a FIFO or any other type; a time out of range; anything
 * the tar reader rejects (truncated or corrupt archive or gzip, a size that lies, a NUL in a pax
 * path, past `limits`). With `signal` aborted: `ABORT_ERR`. `EEXIST` when `key` exists, `ENOENT`
 * when `parent` does not, `EINVAL` when it is not committed.
 *
 * Works in a temporary active snapshot (`KEY@import-UUID`, labelled `cowstack.import.target`)
 * committed as `key` at the end; on any failure it is removed, so nothing is committed and the
 * store holds what it held before. Progress: `{ done, total?, unit: 'bytes' }`, bytes of `source`
 * read (compressed, when it is), `total` its length when known.
 */
export async function importLayer(
  store: Store, key: string, parent: string | undefined, source: LayerSource, options: ImportLayerOptions = {},
): Promise<SnapshotInfo> {
  checkAborted(options.signal, SYSCALL, key);
  await checkFree(store, key);
  return applyLayer(store, key, parent, await openSource(source), options);
}

/**
 * `importLayer` on an opened source, with what its bytes must hash to (`importImage`): checked
 * when the stream has ended, before anything is committed.
 */
export async function applyLayer(
  store: Store, key: string, parent: string | undefined, source: OpenedSource,
  options: ImportLayerOptions & { expect?: LayerExpectation; progressStart?: number; progressTotal?: number } = {},
): Promise<SnapshotInfo> {
  const { signal, expect } = options;
  const limits = { ...LAYER_LIMITS, ...options.limits };
  try {
    return await inWorkSnapshot(store, key, parent, options, async (layer) => {
      // Each hash costs a pass over the bytes: only the ones checked are computed.
      const blob = new DigestStream(expect?.digest !== undefined);
      const tar = new DigestStream(expect?.diffId !== undefined);
      const total = options.progressTotal ?? source.total;
      const raw = counted(source.stream, total, options.onProgress, options.progressStart);
      const reader = new TarReader(tar.tap(maybeGunzip(blob.tap(raw))), { maxBytes: limits.maxBytes, maxEntries: limits.maxEntries });
      const applier = new LayerApplier(layer, limits, signal);
      for await (const entry of reader) {
        checkAborted(signal, SYSCALL, key);
        await applier.apply(entry);
      }
      await applier.finish();
      if (expect !== undefined) {
        if (expect.size !== undefined && blob.size !== expect.size) {
          throw fsError('EINTEGRITY', { syscall: 'digest', path: expect.name, detail: `blob is ${blob.size} bytes, expected ${expect.size}` });
        }
        if (expect.digest !== undefined) checkDigest(blob.digest(), expect.digest, expect.name);
        if (expect.diffId !== undefined) checkDigest(tar.digest(), expect.diffId, `${expect.name} (uncompressed)`);
      }
    });
  } finally {
    (source.stream as Partial<Readable>).destroy?.();
  }
}

/**
 * A layer's entry without its bytes: a tar header and, for a regular file, the ids of its blocks
 * at the store's block size (`null` for a hole), as a block index lists them.
 */
export interface LazyLayerEntry {
  readonly header: TarEntryHeader;
  readonly blocks?: readonly BlockRef[];
}

/**
 * `applyLayer` from a layer's table of contents instead of its bytes (a lazy pull): the same
 * rules, the same errors, the same tree, but each file is made from its block ids, nothing read
 * or stored (`SnapshotLayer.createFileFromBlocks`); the store fetches the blocks when they are
 * first read. Nothing can be checked against the layer's digest here: the entries are trusted
 * as the caller's source is.
 */
export async function applyLazyLayer(
  store: Store, key: string, parent: string | undefined, entries: Iterable<LazyLayerEntry>, options: ImportLayerOptions = {},
): Promise<SnapshotInfo> {
  const limits = { ...LAYER_LIMITS, ...options.limits };
  return inWorkSnapshot(store, key, parent, options, async (layer) => {
    if (!(layer instanceof SnapshotLayer)) throw new TypeError('a lazy layer needs a store whose layers take block ids');
    const applier = new LayerApplier(layer, limits, options.signal);
    let count = 0;
    for (const entry of entries) {
      checkAborted(options.signal, SYSCALL, key);
      if (++count > limits.maxEntries) throw fsError('EINVAL', { syscall: SYSCALL, path: key, detail: `more than ${limits.maxEntries} entries` });
      await applier.apply({ header: entry.header, body: NO_BODY, ...(entry.blocks === undefined ? {} : { blocks: entry.blocks }) });
    }
    await applier.finish();
  });
}

/**
 * Runs `task` on a temporary active snapshot on `parent` (`KEY@import-UUID`, labelled
 * `cowstack.import.target`) and commits it as `key`; on any failure removes it, so nothing is
 * committed.
 */
async function inWorkSnapshot(
  store: Store, key: string, parent: string | undefined, options: ImportLayerOptions, task: (layer: Layer) => Promise<void>,
): Promise<SnapshotInfo> {
  const work = `${key}@import-${randomUUID()}`;
  let prepared = false;
  try {
    const layer = await store.prepare(work, parent, { labels: { [LABEL_IMPORT_TARGET]: key } });
    prepared = true;
    await task(layer);
    checkAborted(options.signal, SYSCALL, key);
    const info = await store.commit(key, work, { labels: options.labels ?? {} });
    prepared = false;
    return info;
  } finally {
    if (prepared) await store.remove(work).catch(() => undefined);
  }
}

/** Rejects with `EEXIST` (syscall `importLayer`) when `key` names a snapshot: the check every import makes before reading its source. */
export async function checkFree(store: Store, key: string): Promise<void> {
  try {
    await store.stat(key);
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return;
    throw error;
  }
  throw fsError('EEXIST', { syscall: SYSCALL, path: key, detail: `snapshot '${key}' exists` });
}

/** The parent directory of an entry, found (and, for entries, made) along checked components. */
interface Parent {
  readonly path: string;
  readonly node: PathNode;
  /** The nodes from the root to `node`. */
  readonly chain: readonly PathNode[];
}

/** Applies the entries of one archive, in order, to a writable layer. */
class LayerApplier {
  readonly #layer: Layer;
  readonly #limits: LayerLimits;
  readonly #signal: AbortSignal | undefined;
  readonly #root: PathNode = pathNode('dir');

  constructor(layer: Layer, limits: LayerLimits, signal: AbortSignal | undefined) {
    this.#layer = layer;
    this.#limits = limits;
    this.#signal = signal;
  }

  async apply(entry: TarEntry & { readonly blocks?: readonly BlockRef[] }): Promise<void> {
    const { header } = entry;
    try {
      await this.#apply(header, entry.body, entry.blocks);
    } catch (error) {
      throw entryError(error, header.path);
    }
  }

  /** Sets every pending directory mtime, now that no entry will change them. */
  async finish(): Promise<void> {
    for (const [path, mtimeMs] of pendingTimes(this.#root)) {
      const time = new Date(mtimeMs);
      await this.#layer.utimes(path, time, time);
    }
  }

  async #apply(header: TarEntryHeader, body: AsyncIterable<Uint8Array>, blocks: readonly BlockRef[] | undefined): Promise<void> {
    const reject = (detail: string): CowstackError => fsError('EINVAL', { syscall: SYSCALL, path: header.path, detail });
    const directory = header.type === 'directory';
    const name = parseEntryName(header.path, directory, this.#limits.maxPathDepth, header.path);
    if (!(Math.abs(header.mtimeMs) <= MAX_TIME_MS)) throw reject(`mtime ${header.mtimeMs} is out of range`);
    if (name.parts.length === 0) return this.#applyRoot(header);
    const leaf = name.parts[name.parts.length - 1]!;
    if (name.parts.slice(0, -1).some((part) => part.startsWith(WHITEOUT))) throw reject('a whiteout name cannot be a directory');
    if (leaf.startsWith(WHITEOUT)) {
      if (header.type !== 'file') throw reject(`a ${header.type} cannot be named ${WHITEOUT}…: whiteouts are regular files, and no other entry may take such a name`);
      return this.#applyWhiteout(name.parts, leaf, reject);
    }
    switch (header.type) {
      case 'file': case 'directory': case 'symlink': case 'hardlink':
        break;
      case 'char': case 'block':
        throw reject(`${header.type} devices (${header.devMajor}/${header.devMinor}) are not supported: a layer holds no device nodes, and an OCI tar whiteout is a .wh. file, never a device`);
      case 'fifo':
        throw reject('FIFOs are not supported');
      default:
        throw reject(`entry type '${header.typeflag}' is not supported`);
    }

    const parent = await this.#parentOf(name.parts, true, 'entry', reject);
    if (parent === undefined) throw new Error('unreachable: parents are created');
    const path = joinPath(parent.path, leaf);
    const target = header.type === 'hardlink' ? await this.#linkTarget(header, path, reject) : undefined;
    let existing = childOf(parent.node, leaf);
    if (existing === undefined) {
      const stats = await this.#lstat(path);
      if (stats !== undefined) existing = pathNode(kindOf(stats));
    }
    let node: PathNode;
    if (existing !== undefined && existing.kind === 'dir' && directory) {
      await this.#layer.chown(path, header.uid, header.gid);
      await this.#layer.chmod(path, header.mode);
      node = existing;
      node.mtimeMs = header.mtimeMs;
    } else {
      await this.#touch(parent.node, parent.path);
      if (existing !== undefined) await this.#layer.rm(path, { recursive: true });
      node = await this.#create(header, body, blocks, path, target, reject);
    }
    setChild(parent.node, leaf, node);
    node.unpacked = true;
    node.holdsUnpacked = true;
    for (const above of parent.chain) above.holdsUnpacked = true;
  }

  /** `./`: the root's own metadata. */
  async #applyRoot(header: TarEntryHeader): Promise<void> {
    await this.#layer.chown('/', header.uid, header.gid);
    await this.#layer.chmod('/', header.mode);
    this.#root.mtimeMs = header.mtimeMs;
  }

  /** Makes a new entry where nothing is; its parent has been touched. */
  async #create(
    header: TarEntryHeader, body: AsyncIterable<Uint8Array>, blocks: readonly BlockRef[] | undefined, path: string,
    target: LinkTarget | undefined, reject: (detail: string) => CowstackError,
  ): Promise<PathNode> {
    const layer = this.#layer;
    const time = new Date(header.mtimeMs);
    switch (header.type) {
      case 'directory':
        await layer.mkdir(path, { mode: header.mode });
        await layer.chown(path, header.uid, header.gid);
        return pathNode('dir', header.mtimeMs);
      case 'file':
        if (blocks === undefined) await this.#writeFile(path, header, body);
        else await (layer as SnapshotLayer).createFileFromBlocks(path, header.mode, header.size, blocks);
        await layer.chown(path, header.uid, header.gid);
        await layer.utimes(path, time, time);
        return pathNode('other');
      case 'symlink':
        if (header.linkTarget === '') throw reject('a symbolic link needs a target');
        await layer.symlink(header.linkTarget, path);
        await layer.lchown(path, header.uid, header.gid);
        await layer.lutimes(path, time, time);
        return pathNode('symlink');
      default: {
        await layer.link(target!.path, path);
        if (target!.symlink) return pathNode('symlink');
        await layer.chown(path, header.uid, header.gid);
        await layer.chmod(path, header.mode);
        await layer.utimes(path, time, time);
        return pathNode('other');
      }
    }
  }

  /** Streams a body into a new file, in block-aligned writes of `WRITE_CHUNK` bytes. */
  async #writeFile(path: string, header: TarEntryHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    const handle = await this.#layer.open(path, 'wx', header.mode);
    try {
      if (header.size === 0) return;
      const buffer = Buffer.allocUnsafe(Math.min(WRITE_CHUNK, header.size));
      let filled = 0;
      let position = 0;
      for await (const chunk of body) {
        checkAborted(this.#signal, SYSCALL, header.path);
        for (let offset = 0; offset < chunk.length; ) {
          const length = Math.min(chunk.length - offset, buffer.length - filled);
          buffer.set(chunk.subarray(offset, offset + length), filled);
          filled += length;
          offset += length;
          if (filled === buffer.length) {
            await handle.write(buffer, 0, filled, position);
            position += filled;
            filled = 0;
          }
        }
      }
      if (filled > 0) await handle.write(buffer, 0, filled, position);
    } finally {
      await handle.close();
    }
  }

  async #applyWhiteout(parts: readonly string[], leaf: string, reject: (detail: string) => CowstackError): Promise<void> {
    const parent = await this.#parentOf(parts, false, 'whiteout', reject);
    if (parent === undefined) return;
    if (leaf === OPAQUE) return this.#clear(parent.node, parent.path);
    if (leaf.startsWith(WHITEOUT_META)) return;
    const hidden = leaf.slice(WHITEOUT.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw reject(`'${leaf}' names no sibling`);
    await this.#hide(parent.node, parent.path, hidden);
  }

  /**
   * Removes what the parent snapshot has at `name` in `dir`, keeping what this layer put there: a
   * directory holding entries of this layer stays, and the same is done to each of its entries.
   */
  async #hide(dir: PathNode, dirPath: string, name: string): Promise<void> {
    const path = joinPath(dirPath, name);
    const node = childOf(dir, name);
    if (node?.holdsUnpacked === true) {
      if (node.kind === 'dir') await this.#clear(node, path);
      return;
    }
    if (node === undefined && (await this.#lstat(path)) === undefined) return;
    await this.#touch(dir, dirPath);
    await this.#layer.rm(path, { recursive: true });
    deleteChild(dir, name);
  }

  /** Hides everything the parent snapshot has in directory `dir` (an opaque whiteout), once. */
  async #clear(dir: PathNode, path: string): Promise<void> {
    if (dir.opaque) return;
    for (const name of await this.#layer.readdir(path)) await this.#hide(dir, path, name);
    dir.opaque = true;
  }

  /**
   * The directory holding the last of `parts`, every component above it checked to be a real
   * directory of the layer being built (never a symbolic link, never a file). With `create`,
   * missing ones are made; without, `undefined` when one is missing.
   */
  async #parentOf(
    parts: readonly string[], create: boolean, what: string, reject: (detail: string) => CowstackError,
  ): Promise<Parent | undefined> {
    let node = this.#root;
    let path = '/';
    const chain: PathNode[] = [node];
    for (const part of parts.slice(0, -1)) {
      const childPath = joinPath(path, part);
      let child = childOf(node, part);
      if (child === undefined) {
        const stats = await this.#lstat(childPath);
        if (stats === undefined) {
          if (!create) return undefined;
          await this.#touch(node, path);
          await this.#layer.mkdir(childPath, { mode: IMPLICIT_DIR_MODE });
          child = pathNode('dir', IMPLICIT_DIR_MTIME);
        } else {
          child = pathNode(kindOf(stats));
        }
        setChild(node, part, child);
      }
      if (child.kind === 'symlink') throw reject(`'${childPath}' is a symbolic link: no ${what} may be reached through one`);
      if (child.kind !== 'dir') throw reject(`'${childPath}' is not a directory`);
      node = child;
      path = childPath;
      chain.push(node);
    }
    return { path, node, chain };
  }

  /** A hard link's target: a name in the layer being built, reached through real directories only. */
  async #linkTarget(header: TarEntryHeader, path: string, reject: (detail: string) => CowstackError): Promise<LinkTarget> {
    const name = parseEntryName(header.linkTarget, false, this.#limits.maxPathDepth, header.path, 'hard link target');
    const parent = await this.#parentOf(name.parts, false, 'hard link target', reject);
    const target = parent === undefined ? undefined : joinPath(parent.path, name.parts[name.parts.length - 1]!);
    const stats = target === undefined ? undefined : await this.#lstat(target);
    if (target === undefined || stats === undefined) throw reject(`hard link target '${header.linkTarget}' does not exist in the layer`);
    if (stats.isDirectory()) throw reject(`hard link target '${header.linkTarget}' is a directory`);
    if (target === path) throw reject('a hard link cannot be its own target');
    return { path: target, symlink: stats.isSymbolicLink() };
  }

  /** Records a directory's mtime before this layer first changes its entries, to restore it at the end. */
  async #touch(dir: PathNode, path: string): Promise<void> {
    if (dir.mtimeMs === undefined) dir.mtimeMs = (await this.#layer.lstat(path)).mtimeMs;
  }

  #lstat(path: string): Promise<Stats | undefined> {
    return unlessMissing(this.#layer.lstat(path));
  }
}

interface LinkTarget {
  readonly path: string;
  readonly symlink: boolean;
}

function kindOf(stats: Stats): PathNode['kind'] {
  return stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'symlink' : 'other';
}

/** An error met applying an entry, as the import reports it: `EINVAL` naming the entry when the archive is at fault. */
function entryError(error: unknown, entry: string): unknown {
  if (typeof error !== 'object' || error === null) return error;
  const { code, path, message } = error as { code?: unknown; path?: unknown; message?: unknown };
  if (code === 'EINVAL' && path === entry) return error;
  if (typeof code !== 'string' || !BAD_ARCHIVE_CODES.has(code)) return error;
  return fsError('EINVAL', { syscall: SYSCALL, path: entry, detail: `the entry cannot be applied (${String(message)})`, cause: error });
}
