import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { parseBlockId, type BlockId } from '../../core/BlockId.js';
import { fsError } from '../../core/errors.js';
import type { Tree } from '../../core/Tree.js';
import type { CatalogEntry, SnapshotPersistence } from '../../snapshots/SnapshotPersistence.js';
import type { SnapshotKind } from '../../snapshots/SnapshotState.js';
import type { FileSystem } from './FileSystem.js';
import { writeFileAtomic, type PackStore } from './PackStore.js';
import type { TreeCodec } from './TreeCodec.js';

const CATALOG_MAGIC = 0x54435743; // "CWCT"
const CATALOG_VERSION = 1;
export const CATALOG_FILE = 'catalog';

interface StoredEntry {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  created: number;
  updated: number;
  tree: string;
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

  /** Reads the catalog and every tree in it; a tree that cannot be read is kept as damaged. */
  async load(): Promise<CatalogEntry[]> {
    const path = join(this.#dir, CATALOG_FILE);
    if (!(await this.#fs.exists(path))) return [];
    const bytes = await this.#fs.readFile(path);
    if (bytes.byteLength < 16 || bytes.readUInt32LE(0) !== CATALOG_MAGIC) throw fsError('EINTEGRITY', { syscall: 'open', path, detail: 'not a cowstack catalog' });
    const length = bytes.readUInt32LE(8);
    if (12 + length + 4 !== bytes.byteLength || crc32(bytes.subarray(0, 12 + length)) !== bytes.readUInt32LE(12 + length)) {
      throw fsError('EINTEGRITY', { syscall: 'open', path, detail: 'catalog checksum does not match' });
    }
    const version = bytes.readUInt32LE(4);
    if (version > CATALOG_VERSION) {
      throw fsError('EINVAL', { syscall: 'open', path, detail: `catalog format version ${version} is newer than this cowstack knows (${CATALOG_VERSION})` });
    }
    let stored: StoredEntry[];
    try {
      stored = (JSON.parse(bytes.toString('utf8', 12, 12 + length)) as { snapshots: StoredEntry[] }).snapshots;
      if (!Array.isArray(stored)) throw new Error('no snapshot list');
    } catch (error) {
      throw fsError('EINTEGRITY', { syscall: 'open', path, detail: 'catalog is not readable', cause: error });
    }
    const cache = new Map<BlockId, object>();
    const read = (id: BlockId): Promise<Uint8Array> => this.#packs.read(id, true);
    const entries: CatalogEntry[] = [];
    for (const entry of stored) {
      const id = parseBlockId(entry.tree);
      if (id === undefined) throw fsError('EINTEGRITY', { syscall: 'open', path, detail: `snapshot '${entry.key}' names a bad tree id` });
      let tree: CatalogEntry['tree'];
      try {
        tree = await this.#codec.load(id, read, cache);
      } catch (error) {
        tree = { damaged: id, error: error instanceof Error ? error : new Error(String(error)) };
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
    const json = Buffer.from(JSON.stringify({ snapshots: stored }), 'utf8');
    const out = Buffer.alloc(12 + json.byteLength + 4);
    out.writeUInt32LE(CATALOG_MAGIC, 0);
    out.writeUInt32LE(CATALOG_VERSION, 4);
    out.writeUInt32LE(json.byteLength, 8);
    json.copy(out, 12);
    out.writeUInt32LE(crc32(out.subarray(0, 12 + json.byteLength)), 12 + json.byteLength);
    await this.#packs.guardedWrite(() => writeFileAtomic(this.#fs, this.#dir, CATALOG_FILE, out));
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
