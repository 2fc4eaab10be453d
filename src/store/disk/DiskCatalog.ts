import { join } from 'node:path';
import { parseBlockId, type BlockId } from '../../core/BlockId.js';
import { fsError, hasCode } from '../../core/errors.js';
import type { Tree } from '../../core/Tree.js';
import type { CatalogEntry, SnapshotPersistence } from '../../snapshots/SnapshotPersistence.js';
import type { SnapshotKind } from '../../snapshots/SnapshotState.js';
import { checksumMatches, withChecksum } from './checksum.js';
import type { FileSystem } from './FileSystem.js';
import { PackStore, writeFileAtomic } from './PackStore.js';
import { isTreeRecord, type TreeCodec } from './TreeCodec.js';

const CATALOG_MAGIC = 0x54435743; // "CWCT"
const CATALOG_VERSION = 1;
export const CATALOG_FILE = 'catalog';
/** What every message about a lost or damaged catalog ends with. */
const RECOVER_HINT = 'run `cowstack recover` to rebuild it from the trees in the packs';

interface StoredEntry {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  created: number;
  updated: number;
  tree: BlockId;
}

/**
 * The catalog of a durable store: one file, `catalog`, naming every snapshot and the id of its
 * tree, replaced atomically (temporary file, fsync, rename, fsync of the directory) after the
 * trees' nodes and blocks are fsynced in their packs. Its format:
 *
 *   catalog := "CWCT" u32:version u32:length json[length] u32:crc32(all before)
 *
 * where the JSON is `{ "snapshots": [{ key, kind, parent?, labels, created, updated, tree }] }`
 * (times in epoch milliseconds, `tree` a hex id).
 *
 * Invariant: a store has a catalog from its creation on (an empty one is written with the config,
 * before any pack record), so packs holding tree nodes without a catalog are a loss, never a new
 * store. Opening such a store rejects with `EINTEGRITY` (`ensureCatalog`, `load`) and changes
 * nothing: opening it empty would let the next gc free every block. A catalog that does not check
 * rejects the same way. Either is repaired by `recoverDiskStore` (`cowstack recover`).
 */
export class DiskCatalog implements SnapshotPersistence {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #packs: PackStore;
  readonly #codec: TreeCodec;

  constructor(fs: FileSystem, dir: string, packs: PackStore, codec: TreeCodec) {
    this.#fs = fs;
    this.#dir = dir;
    this.#packs = packs;
    this.#codec = codec;
  }

  /**
   * Reads the catalog and every tree in it; a tree that cannot be read is kept as damaged. Rejects
   * with `EINTEGRITY` when the catalog does not check, or is missing while the packs hold nodes.
   */
  async load(): Promise<CatalogEntry[]> {
    const stored = await readCatalogFile(this.#fs, this.#dir);
    if (stored === undefined) {
      if (this.#packs.stats('node').count > 0) throw await lostCatalogError(this.#dir, this.#packs);
      return [];
    }
    const cache = new Map<BlockId, object>();
    const read = (id: BlockId): Promise<Uint8Array> => this.#packs.read(id, true);
    const entries: CatalogEntry[] = [];
    for (const entry of stored) {
      let tree: CatalogEntry['tree'];
      try {
        tree = await this.#codec.load(entry.tree, read, cache);
      } catch (error) {
        tree = { damaged: entry.tree, error: error instanceof Error ? error : new Error(String(error)) };
      }
      entries.push({
        key: entry.key, kind: entry.kind, parent: entry.parent, labels: entry.labels,
        created: new Date(entry.created), updated: new Date(entry.updated), tree,
      });
    }
    return entries;
  }

  async save(entries: readonly CatalogEntry[]): Promise<void> {
    const stored: StoredEntry[] = [];
    const pending: (() => void)[] = [];
    for (const entry of entries) {
      let id: BlockId;
      if ('damaged' in entry.tree) {
        id = entry.tree.damaged;
      } else {
        const encoded = this.#codec.encode(entry.tree);
        await this.#packs.append(encoded.records);
        pending.push(encoded.stored);
        id = encoded.id;
      }
      stored.push({
        key: entry.key, kind: entry.kind, ...(entry.parent === undefined ? {} : { parent: entry.parent }), labels: entry.labels,
        created: entry.created.getTime(), updated: entry.updated.getTime(), tree: id,
      });
    }
    await this.#packs.sync();
    for (const done of pending) done();
    await this.#packs.guardedWrite(() => writeCatalogFile(this.#fs, this.#dir, stored));
  }

  async collect(entries: readonly CatalogEntry[]): Promise<{ nodesRemoved: number; bytesFreed: number }> {
    const live = new Set<BlockId>();
    const seen = new Set<object>();
    for (const entry of entries) {
      if ('damaged' in entry.tree) live.add(entry.tree.damaged);
      else this.#codec.markNodes(entry.tree as Tree, live, seen);
    }
    const garbage = [...this.#packs.ids('node')].filter((id) => !live.has(id));
    // A damaged tree's nodes cannot be walked: keep every node while one exists.
    const removed = entries.some((entry) => 'damaged' in entry.tree) ? { count: 0, bytes: 0 } : this.#packs.delete(garbage);
    const before = this.#packs.packBytes();
    await this.#packs.compact();
    return { nodesRemoved: removed.count, bytesFreed: Math.max(0, before - this.#packs.packBytes()) };
  }

  async close(): Promise<void> {
    await this.#packs.close();
  }
}

/**
 * The snapshots of `dir`'s catalog file, their trees not read; undefined when there is no file.
 * Rejects with `EINTEGRITY` when it does not check (its magic, length, CRC, JSON, a tree id) and
 * with `EINVAL` when its format is newer than this code knows.
 */
async function readCatalogFile(fs: FileSystem, dir: string): Promise<StoredEntry[] | undefined> {
  const path = join(dir, CATALOG_FILE);
  if (!(await fs.exists(path))) return undefined;
  const damaged = (detail: string, cause?: unknown): Error =>
    fsError('EINTEGRITY', { syscall: 'open', path, detail: `${detail}; ${RECOVER_HINT}`, cause });
  const bytes = await fs.readFile(path);
  if (bytes.byteLength < 16 || bytes.readUInt32LE(0) !== CATALOG_MAGIC) throw damaged('not a cowstack catalog');
  const length = bytes.readUInt32LE(8);
  if (12 + length + 4 !== bytes.byteLength || !checksumMatches(bytes)) {
    throw damaged('catalog checksum does not match');
  }
  const version = bytes.readUInt32LE(4);
  if (version > CATALOG_VERSION) {
    throw fsError('EINVAL', { syscall: 'open', path, detail: `catalog format version ${version} is newer than this cowstack knows (${CATALOG_VERSION})` });
  }
  let stored: unknown;
  try {
    stored = (JSON.parse(bytes.toString('utf8', 12, 12 + length)) as { snapshots?: unknown }).snapshots;
  } catch (error) {
    throw damaged('catalog is not readable', error);
  }
  if (!Array.isArray(stored)) throw damaged('catalog holds no snapshot list');
  return stored.map((entry: Partial<StoredEntry> | null) => {
    const tree = typeof entry?.tree === 'string' ? parseBlockId(entry.tree) : undefined;
    if (entry === null || tree === undefined) throw damaged(`snapshot '${String(entry?.key)}' names a bad tree id`);
    return { ...(entry as StoredEntry), tree };
  });
}

/** Replaces `dir`'s catalog file by one naming `stored`, atomically and durably. */
async function writeCatalogFile(fs: FileSystem, dir: string, stored: readonly StoredEntry[]): Promise<void> {
  const json = Buffer.from(JSON.stringify({ snapshots: stored }), 'utf8');
  const head = Buffer.alloc(12);
  head.writeUInt32LE(CATALOG_MAGIC, 0);
  head.writeUInt32LE(CATALOG_VERSION, 4);
  head.writeUInt32LE(json.byteLength, 8);
  await writeFileAtomic(fs, dir, CATALOG_FILE, withChecksum(Buffer.concat([head, json])));
}

/** Writes the empty catalog of a new store: done with its config, before any pack record exists. */
export function writeEmptyCatalog(fs: FileSystem, dir: string): Promise<void> {
  return writeCatalogFile(fs, dir, []);
}

/** What `dir`'s catalog file is, its trees not read. Rejects with `EINVAL` when its format is newer. */
export async function catalogFileState(fs: FileSystem, dir: string): Promise<'sound' | 'missing' | 'damaged'> {
  try {
    return (await readCatalogFile(fs, dir)) === undefined ? 'missing' : 'sound';
  } catch (error) {
    if (hasCode(error, 'EINTEGRITY')) return 'damaged';
    throw error;
  }
}

/**
 * Run when opening, under the writer lock and before the packs are opened for writing: a missing
 * catalog is legitimate only while the packs hold no tree node (a store killed between writing its
 * config and its empty catalog, or made before stores wrote one at creation). Then an empty
 * catalog is written (when writable). Otherwise it rejects with `EINTEGRITY` naming what the packs
 * hold, having changed nothing on disk: the packs are only opened read-only to count.
 */
export async function ensureCatalog(fs: FileSystem, dir: string, readOnly: boolean): Promise<void> {
  if (await fs.exists(join(dir, CATALOG_FILE))) return;
  const packs = await PackStore.open({ fs, dir, readOnly: true });
  try {
    if (packs.stats('node').count > 0) throw await lostCatalogError(dir, packs);
  } finally {
    await packs.abandon();
  }
  if (!readOnly) await writeEmptyCatalog(fs, dir);
}

/** The error of a store whose catalog is missing while `packs` hold tree nodes. */
async function lostCatalogError(dir: string, packs: PackStore): Promise<Error> {
  const { trees } = await findTrees(packs);
  return fsError('EINTEGRITY', {
    syscall: 'open', path: dir,
    detail: `the catalog is missing, but the packs hold ${packs.stats('node').count} tree node(s) and ${trees.length} snapshot tree(s) ` +
      `(opened empty, the next gc would free them all); ${RECOVER_HINT}`,
  });
}

/**
 * Every tree record in `packs` (`isTreeRecord`: the root of a snapshot's tree), in the order they
 * lie in the packs: the order written, except that gc's compaction moves live records to the
 * newest pack. `unreadable` counts the node records that could not be read to tell (`check` names
 * them). Reads every node record: for opening's error path and for recovery only.
 */
export async function findTrees(packs: PackStore): Promise<{ trees: BlockId[]; unreadable: number }> {
  const found: { id: BlockId; pack: number; offset: number }[] = [];
  let unreadable = 0;
  for (const id of [...packs.ids('node')]) {
    const location = packs.location(id);
    if (location === undefined) continue;
    let payload: Uint8Array;
    try {
      payload = await packs.read(id, false);
    } catch {
      unreadable++;
      continue;
    }
    if (isTreeRecord(payload)) found.push({ id, pack: location.pack, offset: location.offset });
  }
  found.sort((a, b) => a.pack - b.pack || a.offset - b.offset);
  return { trees: found.map(({ id }) => id), unreadable };
}
