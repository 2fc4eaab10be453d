import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockId } from '../core/BlockId.js';
import { EMPTY_VECTOR, vectorChanges, vectorForEach } from '../core/BlockVector.js';
import { diffTrees, type Change } from '../core/diff.js';
import type { NodeRecord } from '../core/Entry.js';
import { fsError } from '../core/errors.js';
import { resolve } from '../core/resolve.js';
import { emptyTree, type Tree } from '../core/Tree.js';
import { treeBlockIds, walkTree } from '../core/walk.js';
import type { Hasher } from '../hashing/Hasher.js';
import { exportImage, type ExportImageOptions, type ExportedImage } from '../image/imageExport.js';
import { importImage, type ImportImageOptions } from '../image/imageImport.js';
import { exportLayer, type ExportLayerOptions } from '../image/layerExport.js';
import { importLayer, type ImportLayerOptions, type LayerSource } from '../image/layerImport.js';
import { exportTreeFrom } from '../image/treeExport.js';
import { pull, push } from '../registry/index.js';
import type { PullOptions, PushOptions, PushResult } from '../registry/RegistryOptions.js';
import { importTreeInto } from '../image/treeImport.js';
import type { Layer } from '../layer/Layer.js';
import type { LayerHost } from '../layer/LayerHost.js';
import { SnapshotLayer } from '../layer/SnapshotLayer.js';
import type { FetchingBlockStore } from '../store/FetchingBlockStore.js';
import { SerialQueue } from './SerialQueue.js';
import type { CatalogEntry, SnapshotPersistence } from './SnapshotPersistence.js';
import { SnapshotState, type SnapshotKind } from './SnapshotState.js';
import type {
  CheckProblem, CheckReport, GcReport, LongOperation, SnapshotInfo, Store, StoreStats, Usage, WalkFilter,
} from './Store.js';
import { WriteGate } from './WriteGate.js';

/**
 * The snapshot catalog over a block store: containerd's snapshotter model with block-level
 * copy-on-write. Catalog changes (prepare, view, commit, remove, update) run one at a time on the
 * store's queue; a call that concerns a snapshot's contents (commit, remove, usage, diff) also
 * waits its turn on that snapshot's queue, so it sees every layer call made before it.
 */
export class SnapshotStore implements Store {
  readonly blockSize: number;
  readonly dir: string | undefined;
  readonly readOnly: boolean;
  readonly #blocks: FetchingBlockStore;
  readonly #hasher: Hasher;
  readonly #snapshots = new Map<string, SnapshotState>();
  readonly #queue = new SerialQueue();
  readonly #host: LayerHost;
  readonly #persistence: SnapshotPersistence | undefined;
  /** Saves of the catalog, one at a time, each of the catalog as it is when it runs. */
  readonly #saves = new SerialQueue();
  readonly #onClose: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(blocks: FetchingBlockStore, hasher: Hasher, options: StoreSetup) {
    this.blockSize = blocks.blockSize;
    this.dir = options.dir;
    this.readOnly = options.readOnly;
    this.#blocks = blocks;
    this.#hasher = hasher;
    this.#persistence = options.persistence;
    this.#onClose = options.onClose;
    this.#host = {
      blocks,
      gate: new WriteGate(),
      checkOpen: (syscall, path) => this.#checkOpen(syscall, path),
      checkWritable: (syscall) => this.#blocks.checkWritable(syscall),
      prefetch: (refs) => this.#blocks.prefetch(refs),
      sync: async () => {
        await this.#saves.run(() => this.#save(() => undefined));
      },
    };
    for (const entry of options.entries ?? []) {
      const damaged = 'damaged' in entry.tree ? entry.tree : undefined;
      const tree = damaged === undefined ? (entry.tree as Tree) : emptyTree(0);
      const state = new SnapshotState(entry.key, entry.kind, entry.parent, entry.labels, tree, entry.created);
      state.updated = entry.updated;
      if (damaged !== undefined) state.damaged = { id: damaged.damaged, error: damaged.error };
      this.#snapshots.set(entry.key, state);
    }
  }

  prepare(key: string, parent?: string, options: { labels?: Record<string, string> } = {}): Promise<Layer> {
    return this.#create('prepare', 'active', key, parent, options.labels);
  }

  view(key: string, parent: string | undefined, options: { labels?: Record<string, string> } = {}): Promise<Layer> {
    return this.#create('view', 'view', key, parent, options.labels);
  }

  commit(name: string, key: string, options: { labels?: Record<string, string>; keep?: boolean } = {}): Promise<SnapshotInfo> {
    checkKey(name);
    checkKey(key);
    const labels = checkLabels(options.labels);
    return this.#queue.run(async () => {
      const call = { syscall: 'commit', path: key };
      this.#checkWritable(call.syscall, key);
      if (this.#snapshots.has(name)) throw fsError('EEXIST', { ...call, path: name, detail: `snapshot '${name}' exists` });
      const active = this.#get(key, call.syscall);
      if (active.kind !== 'active') throw fsError('EINVAL', { ...call, detail: `snapshot '${key}' is ${active.kind}, not active` });
      this.#checkIntact(active, call.syscall);
      return active.queue.run(() =>
        this.#saves.run(async () => {
          this.#checkOpen(call.syscall, key);
          const now = new Date();
          const committed = new SnapshotState(name, 'committed', active.parent, labels, active.tree, now);
          await this.#save((entries) => {
            entries.set(name, entryOf(committed));
            if (options.keep === true) entries.set(key, { ...entries.get(key)!, parent: name, updated: now });
            else entries.delete(key);
          });
          this.#snapshots.set(name, committed);
          if (options.keep === true) {
            active.parent = name;
            active.updated = now;
          } else {
            active.alive = false;
            this.#snapshots.delete(key);
          }
          return info(committed);
        }),
      );
    });
  }

  mount(key: string): Promise<Layer> {
    checkKey(key);
    return this.#queue.run(() => {
      const state = this.#checkIntact(this.#get(key, 'mount'), 'mount');
      return new SnapshotLayer(state, this.#host, state.kind !== 'active' || this.readOnly);
    });
  }

  remove(key: string): Promise<void> {
    checkKey(key);
    return this.#queue.run(async () => {
      this.#checkWritable('remove', key);
      const state = this.#get(key, 'remove');
      for (const other of this.#snapshots.values()) {
        if (other.parent === key) throw fsError('ENOTEMPTY', { syscall: 'remove', path: key, detail: `snapshot '${other.key}' has '${key}' as parent` });
      }
      await state.queue.run(() =>
        this.#saves.run(async () => {
          await this.#save((entries) => entries.delete(key));
          state.alive = false;
          this.#snapshots.delete(key);
        }),
      );
    });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    checkKey(key);
    return info(this.#get(key, 'stat'));
  }

  update(key: string, changes: { labels: Record<string, string> }): Promise<SnapshotInfo> {
    checkKey(key);
    const labels = checkLabels(changes?.labels);
    return this.#queue.run(() =>
      this.#saves.run(async () => {
        this.#checkWritable('update', key);
        const state = this.#get(key, 'update');
        const now = new Date();
        await this.#save((entries) => entries.set(key, { ...entries.get(key)!, labels, updated: now }));
        state.labels = labels;
        state.updated = now;
        return info(state);
      }),
    );
  }

  async *walk(filter: WalkFilter = {}): AsyncGenerator<SnapshotInfo> {
    this.#checkOpen('walk');
    const keys = [...this.#snapshots.keys()].sort();
    for (const key of keys) {
      const state = this.#snapshots.get(key);
      if (state === undefined || !matches(state, filter)) continue;
      yield info(state);
    }
  }

  async usage(key: string): Promise<Usage> {
    checkKey(key);
    const state = this.#get(key, 'usage');
    this.#checkIntact(state, 'usage');
    await this.#blocks.settled();
    const tree = await state.queue.run(() => state.tree);
    const parentTree = this.#parentTree(state, tree);
    const changes = diffTrees(parentTree, tree);
    const added = new Set<BlockId>();
    for (const change of changes) {
      if (change.kind === 'deleted') continue;
      const now = lookup(tree, change.path);
      if (now?.type !== 'file') continue;
      const before = lookup(parentTree, change.path);
      vectorChanges(before?.type === 'file' ? before.blocks : EMPTY_VECTOR, now.blocks, (_, id) => {
        if (id !== null) added.add(id);
      });
    }
    let size = 0;
    let blocks = 0;
    if (added.size > 0) {
      const inParent = treeBlockIds(parentTree);
      for (const id of added) {
        if (inParent.has(id)) continue;
        blocks++;
        size += this.#blocks.sizeOf(id);
      }
    }
    return { size, blocks, inodes: changes.length };
  }

  async *diff(key: string, base?: string | null): AsyncGenerator<Change> {
    checkKey(key);
    const state = this.#get(key, 'diff');
    this.#checkIntact(state, 'diff');
    const named = base === undefined || base === null ? undefined : this.#checkIntact(this.#get(checkKey(base), 'diff'), 'diff').tree;
    const tree = await state.queue.run(() => state.tree);
    const baseTree = named ?? (base === null ? nothingBelow(tree) : this.#parentTree(state, tree));
    yield* diffTrees(baseTree, tree);
  }

  async stats(): Promise<StoreStats> {
    this.#checkOpen('stats');
    await this.#blocks.settled();
    const { blocks, bytes } = this.#blocks.stats();
    return { blockSize: this.blockSize, blocks, storedBytes: bytes, snapshots: this.#snapshots.size };
  }

  async gc(options: LongOperation = {}): Promise<GcReport> {
    this.#checkWritable('gc');
    return this.#host.gate.exclusive(() =>
      this.#saves.run(async () => {
        options.signal?.throwIfAborted();
        await this.#blocks.settled();
        // What is on disk must be what is in memory, so the trees marked are the trees stored.
        const entries = await this.#save(() => undefined);
        const live = this.#liveBlocks();
        const garbage: BlockId[] = [];
        // A snapshot whose tree cannot be read may reference any block: sweep none while one exists,
        // so gc never turns damage it cannot see into loss.
        const blind = [...this.#snapshots.values()].some((state) => state.damaged !== undefined);
        if (!blind) {
          for (const id of this.#blocks.ids()) if (!live.has(id)) garbage.push(id);
          // Block sources no snapshot needs any more: every block they cover is stored (and, the
          // save above having synced the packs, durable) or unreferenced.
          const remote = new Set<BlockId>();
          for (const id of live) if (!this.#blocks.has(id)) remote.add(id);
          await this.#blocks.prune(remote);
        }
        options.signal?.throwIfAborted();
        const freed = await this.#blocks.delete(garbage);
        options.onProgress?.({ done: freed.blocks, total: garbage.length, unit: 'blocks' });
        if (this.#persistence !== undefined) await this.#persistence.collect(entries);
        return { blocksRemoved: freed.blocks, bytesFreed: freed.bytes };
      }),
    );
  }

  async check(options: LongOperation = {}): Promise<CheckReport> {
    this.#checkOpen('check');
    await this.#blocks.settled();
    const total = this.#blocks.stats().blocks;
    const damaged = await this.#blocks.verify((done) => {
      options.signal?.throwIfAborted();
      options.onProgress?.({ done, total, unit: 'blocks' });
    });
    const problems: CheckProblem[] = damaged.map((problem) => ({ code: problem.code, message: problem.message }));
    const bad = new Set(damaged.map((problem) => problem.id));
    const remote = new Set<BlockId>();
    for (const state of this.#snapshots.values()) {
      options.signal?.throwIfAborted();
      if (state.damaged !== undefined) {
        problems.push({ code: 'EINTEGRITY', key: state.key, message: `the tree of snapshot '${state.key}' cannot be read: ${state.damaged.error.message}` });
        continue;
      }
      walkTree(state.tree, (path, record) => {
        if (record.type !== 'file') return;
        vectorForEach(record.blocks, (index, id) => {
          if (bad.has(id)) problems.push({ code: 'EINTEGRITY', key: state.key, path, message: `block ${index} (${id}) is damaged` });
          else if (this.#blocks.isRemote(id)) remote.add(id);
          else if (!this.#blocks.has(id)) problems.push({ code: 'EINTEGRITY', key: state.key, path, message: `block ${index} (${id}) is missing` });
        });
      });
    }
    return { ok: problems.length === 0, blocksChecked: total, blocksRemote: remote.size, problems };
  }

  async importTree(key: string, parent: string | undefined, dir: string, options: LongOperation = {}): Promise<SnapshotInfo> {
    checkKey(key);
    if (this.#snapshots.has(key)) throw fsError('EEXIST', { syscall: 'importTree', path: key, detail: `snapshot '${key}' exists` });
    const work = `${key}@import-${randomUUID()}`;
    const layer = await this.prepare(work, parent);
    try {
      await importTreeInto(layer, dir, options);
      options.signal?.throwIfAborted();
      return await this.commit(key, work);
    } catch (error) {
      await this.remove(work).catch(() => undefined);
      throw error;
    }
  }

  async exportTree(key: string, dir: string): Promise<void> {
    await exportTreeFrom(await this.mount(checkKey(key)), dir);
  }

  importLayer(key: string, parent: string | undefined, source: LayerSource, options?: ImportLayerOptions): Promise<SnapshotInfo> {
    return importLayer(this, key, parent, source, options);
  }

  exportLayer(key: string, options?: ExportLayerOptions): Readable {
    return exportLayer(this, key, options);
  }

  importImage(source: string, options?: ImportImageOptions): Promise<SnapshotInfo> {
    return importImage(this, source, options);
  }

  exportImage(key: string, dir: string, options?: ExportImageOptions): Promise<ExportedImage> {
    return exportImage(this, key, dir, options);
  }

  push(key: string, ref: string, options?: PushOptions): Promise<PushResult> {
    return push(this, key, ref, options);
  }

  pull(ref: string, options?: PullOptions): Promise<SnapshotInfo> {
    return pull(this, ref, options, this.#blocks);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue.drain();
    await Promise.all([...this.#snapshots.values()].map((state) => state.queue.drain()));
    let failure: unknown;
    if (!this.readOnly) await this.#saves.run(() => this.#save(() => undefined)).catch((error: unknown) => (failure = error));
    this.#closed = true;
    for (const state of this.#snapshots.values()) state.alive = false;
    await this.#blocks.close().catch((error: unknown) => (failure ??= error));
    await this.#persistence?.close().catch((error: unknown) => (failure ??= error));
    await this.#hasher.close();
    await this.#onClose?.();
    if (failure !== undefined) throw failure;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #create(syscall: string, kind: SnapshotKind, key: string, parent: string | undefined, labels: Record<string, string> | undefined): Promise<Layer> {
    checkKey(key);
    if (parent !== undefined) checkKey(parent);
    const checkedLabels = checkLabels(labels);
    return this.#queue.run(() => {
      this.#checkWritable(syscall, key);
      if (this.#snapshots.has(key)) throw fsError('EEXIST', { syscall, path: key, detail: `snapshot '${key}' exists` });
      let tree: Tree;
      if (parent === undefined) {
        tree = emptyTree(Date.now());
      } else {
        const base = this.#checkIntact(this.#get(parent, syscall), syscall);
        if (base.kind !== 'committed') throw fsError('EINVAL', { syscall, path: parent, detail: `parent '${parent}' is ${base.kind}, not committed` });
        tree = base.tree;
      }
      const state = new SnapshotState(key, kind, parent, checkedLabels, tree, new Date());
      this.#snapshots.set(key, state);
      return new SnapshotLayer(state, this.#host, kind !== 'active');
    });
  }

  #get(key: string, syscall: string): SnapshotState {
    this.#checkOpen(syscall, key);
    const state = this.#snapshots.get(key);
    if (state === undefined) throw fsError('ENOENT', { syscall, path: key, detail: `no snapshot '${key}'` });
    return state;
  }

  /**
   * Saves the catalog as it will be after `change` (applied to the entries of every snapshot as
   * they are now); resolves to those entries. Callers hold `#saves` and apply the change in memory
   * only after this resolves: a failed save changes nothing. Without persistence, nothing to do.
   */
  async #save(change: (entries: Map<string, CatalogEntry>) => void): Promise<CatalogEntry[]> {
    const entries = new Map([...this.#snapshots.values()].map((state) => [state.key, entryOf(state)] as const));
    change(entries);
    const list = [...entries.values()];
    if (this.#persistence !== undefined) await this.#persistence.save(list);
    return list;
  }

  /** The state, unless its stored tree could not be read (`EINTEGRITY`). */
  #checkIntact(state: SnapshotState, syscall: string): SnapshotState {
    if (state.damaged !== undefined) {
      throw fsError('EINTEGRITY', { syscall, path: state.key, detail: `the tree of snapshot '${state.key}' cannot be read`, cause: state.damaged.error });
    }
    return state;
  }

  /** The tree of `state`'s parent, or nothing below `tree` for a snapshot without one. */
  #parentTree(state: SnapshotState, tree: Tree): Tree {
    const parent = state.parent === undefined ? undefined : this.#snapshots.get(state.parent);
    return parent?.tree ?? nothingBelow(tree);
  }

  /** Every block a snapshot or an open, unlinked file still references: the collector's roots. */
  #liveBlocks(): Set<BlockId> {
    const live = new Set<BlockId>();
    for (const state of this.#snapshots.values()) {
      for (const id of treeBlockIds(state.tree)) live.add(id);
      for (const file of state.openFiles) {
        if (file.detached?.type === 'file') vectorForEach(file.detached.blocks, (_, id) => live.add(id));
      }
    }
    return live;
  }

  #checkOpen(syscall: string, path?: string): void {
    if (this.#closed) throw fsError('EBADF', { syscall, ...(path === undefined ? {} : { path }), detail: 'store is closed' });
  }

  #checkWritable(syscall: string, path?: string): void {
    this.#checkOpen(syscall, path);
    if (this.readOnly) throw fsError('EROFS', { syscall, ...(path === undefined ? {} : { path }) });
    this.#blocks.checkWritable(syscall);
  }
}

/** How the store is set up around its catalog. */
export interface StoreSetup {
  readonly dir?: string;
  readonly readOnly: boolean;
  /** Where the catalog is kept between runs; none for a memory store. */
  readonly persistence?: SnapshotPersistence;
  /** The snapshots a durable store had when it was opened. */
  readonly entries?: readonly CatalogEntry[];
  /** Runs last in `close()` (releases the writer lock). */
  readonly onClose?: () => Promise<void>;
}

function entryOf(state: SnapshotState): CatalogEntry {
  return {
    key: state.key, kind: state.kind, parent: state.parent, labels: { ...state.labels }, created: state.created, updated: state.updated,
    tree: state.damaged === undefined ? state.tree : { damaged: state.damaged.id, error: state.damaged.error },
  };
}

/**
 * The base a snapshot without parent is compared with: an empty root with `tree`'s own root
 * metadata, so a diff against nothing lists every entry and never the root itself.
 */
function nothingBelow(tree: Tree): Tree {
  return { root: { ...tree.root, entries: null }, links: null, nextIno: tree.nextIno };
}

function info(state: SnapshotState): SnapshotInfo {
  const result: SnapshotInfo = { key: state.key, kind: state.kind, labels: { ...state.labels }, created: state.created, updated: state.updated };
  if (state.parent !== undefined) result.parent = state.parent;
  return result;
}

function matches(state: SnapshotState, filter: WalkFilter): boolean {
  if (filter.kind !== undefined && state.kind !== filter.kind) return false;
  if (filter.parent !== undefined && state.parent !== filter.parent) return false;
  for (const [name, value] of Object.entries(filter.labels ?? {})) if (state.labels[name] !== value) return false;
  return true;
}

function lookup(tree: Tree, path: string): NodeRecord | undefined {
  try {
    return resolve(tree, path, false, { syscall: 'lookup', path }).record;
  } catch {
    return undefined;
  }
}

function checkKey(key: unknown): string {
  if (typeof key !== 'string') throw new TypeError(`a snapshot key must be a string, not ${typeof key}`);
  if (key === '') throw fsError('EINVAL', { syscall: 'snapshot', path: key, detail: 'a snapshot key may not be empty' });
  return key;
}

function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null) throw new TypeError('labels must be an object of strings');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    if (typeof value !== 'string') throw new TypeError(`label '${name}' must be a string`);
    out[name] = value;
  }
  return out;
}
