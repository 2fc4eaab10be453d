import type fc from 'fast-check';
import type { Layer, SnapshotKind, Store } from './api.js';
import { expectOf, type Expected } from './outcome.js';
import { ModelError, ReferenceFs } from './ReferenceFs.js';

/**
 * The model of a store: containerd's snapshot bookkeeping over `ReferenceFs` trees, as API.md's
 * "Snapshots" table states it, plus the layers the test has opened.
 *
 * Where two errors of one call apply at once (a taken key and a missing parent), API.md lists both
 * without a precedence, so the model accepts either (containerd itself checks the parent first).
 */
export interface ModelSnapshot {
  /** Unique per run: a key reused after a commit or remove names a new snapshot, and layers of the old one stay dead. */
  readonly id: number;
  readonly key: string;
  readonly kind: SnapshotKind;
  parent: string | undefined;
  /** `undefined` where API.md does not say what they are (a commit without labels). */
  labels: Record<string, string> | undefined;
  readonly fs: ReferenceFs;
  /** No write has succeeded since it was made from its parent: its diff must be empty. */
  pristine: boolean;
}

/** An open layer: a snapshot of one id, writable or not. */
export interface ModelHandle {
  readonly key: string;
  readonly snapshotId: number;
  readonly readOnly: boolean;
}

/**
 * How a layer call touches the tree: `read` never writes; `write` always writes (on a read-only
 * layer: EROFS); `write-may-noop` writes unless there is nothing to do (`mkdir -p` of an existing
 * directory, `rm -f` of a missing path), which a read-only layer may answer with success, as
 * node:fs on a read-only mount does, or with EROFS, as API.md's "a write of any kind" reads.
 */
export type Access = 'read' | 'write' | 'write-may-noop';

export class StoreModel {
  readonly snapshots = new Map<string, ModelSnapshot>();
  /** Parallel to `UnionReal.layers`: every layer opened in this run, dead ones included. */
  readonly handles: ModelHandle[] = [];
  #nextId = 1;

  /** The snapshot a handle is on, or undefined when it was committed without keep or removed. */
  live(handle: ModelHandle): ModelSnapshot | undefined {
    const snapshot = this.snapshots.get(handle.key);
    return snapshot?.id === handle.snapshotId ? snapshot : undefined;
  }

  /**
   * What a call on a layer may do. A dead layer rejects everything with EBADF (API.md). A write to
   * a read-only layer rejects with EROFS; where Linux would have failed the call anyway (a missing
   * path: ENOENT), that code is accepted too, because Linux checks the path before the mount and
   * API.md does not order the two. On a writable layer the model tree is updated in place.
   */
  onLayer<T>(handle: ModelHandle, access: Access, call: (fs: ReferenceFs) => T): Expected<T> {
    const snapshot = this.live(handle);
    if (snapshot === undefined) return { codes: ['EBADF'] };
    if (access === 'read') return expectOf(() => call(snapshot.fs));
    if (handle.readOnly) {
      const scratch = snapshot.fs.clone();
      const expected = expectOf(() => call(scratch));
      const codes = ['EROFS', ...expected.codes];
      if (expected.success && access === 'write-may-noop' && sameTree(scratch, snapshot.fs)) {
        return { success: expected.success, codes };
      }
      return { codes };
    }
    const expected = expectOf(() => call(snapshot.fs));
    if (expected.success) snapshot.pristine = false;
    return expected;
  }

  #add(key: string, kind: SnapshotKind, parent: string | undefined, labels: Record<string, string> | undefined, fs: ReferenceFs): ModelSnapshot {
    const snapshot: ModelSnapshot = { id: this.#nextId++, key, kind, parent, labels, fs, pristine: true };
    this.snapshots.set(key, snapshot);
    return snapshot;
  }

  /** prepare / view: EEXIST key taken, ENOENT parent missing, EINVAL parent not committed. */
  #create(syscall: string, key: string, parent: string | undefined, kind: SnapshotKind, labels?: Record<string, string>): ModelSnapshot {
    const codes: string[] = [];
    if (this.snapshots.has(key)) codes.push('EEXIST');
    let base: ReferenceFs | undefined;
    if (parent !== undefined) {
      const p = this.snapshots.get(parent);
      if (p === undefined) codes.push('ENOENT');
      else if (p.kind !== 'committed') codes.push('EINVAL');
      else base = p.fs;
    }
    if (codes.length > 0) throw new ModelError(codes, syscall, key);
    return this.#add(key, kind, parent, { ...labels }, base?.clone() ?? new ReferenceFs());
  }

  prepare(key: string, parent?: string, labels?: Record<string, string>): ModelSnapshot {
    return this.#create('prepare', key, parent, 'active', labels);
  }

  view(key: string, parent: string, labels?: Record<string, string>): ModelSnapshot {
    return this.#create('view', key, parent, 'view', labels);
  }

  /**
   * commit: EEXIST name taken, ENOENT key missing, EINVAL key not active. The committed snapshot
   * has the active one's parent. Without keep the active one ceases to exist; with keep it stays,
   * its parent becomes `name` and its diff is empty. Labels: those given; without any, API.md does
   * not say (containerd gives none), so the model leaves them unknown.
   */
  commit(name: string, key: string, keep: boolean, labels?: Record<string, string>): ModelSnapshot {
    const codes: string[] = [];
    if (this.snapshots.has(name)) codes.push('EEXIST');
    const active = this.snapshots.get(key);
    if (active === undefined) codes.push('ENOENT');
    else if (active.kind !== 'active') codes.push('EINVAL');
    if (codes.length > 0) throw new ModelError(codes, 'commit', key);
    const source = active!;
    let committed: ModelSnapshot;
    if (keep) {
      committed = this.#add(name, 'committed', source.parent, labels && { ...labels }, source.fs.clone());
      source.parent = name;
    } else {
      this.snapshots.delete(key);
      committed = this.#add(name, 'committed', source.parent, labels && { ...labels }, source.fs);
    }
    committed.pristine = source.pristine;
    source.pristine = true;
    return committed;
  }

  mount(key: string): { snapshot: ModelSnapshot; handle: ModelHandle } {
    const snapshot = this.snapshots.get(key);
    if (snapshot === undefined) throw new ModelError('ENOENT', 'mount', key);
    return { snapshot, handle: { key, snapshotId: snapshot.id, readOnly: snapshot.kind !== 'active' } };
  }

  /** remove: ENOENT; ENOTEMPTY while another snapshot has it as parent. */
  remove(key: string): void {
    if (!this.snapshots.has(key)) throw new ModelError('ENOENT', 'remove', key);
    for (const s of this.snapshots.values()) if (s.parent === key) throw new ModelError('ENOTEMPTY', 'remove', key);
    this.snapshots.delete(key);
  }

  stat(key: string): ModelSnapshot {
    const snapshot = this.snapshots.get(key);
    if (snapshot === undefined) throw new ModelError('ENOENT', 'stat', key);
    return snapshot;
  }

  update(key: string, labels: Record<string, string>): ModelSnapshot {
    const snapshot = this.stat(key);
    snapshot.labels = { ...labels };
    return snapshot;
  }
}

function sameTree(a: ReferenceFs, b: ReferenceFs): boolean {
  const x = a.tree();
  const y = b.tree();
  if (x.length !== y.length) return false;
  return x.every((e, i) => {
    const f = y[i]!;
    return (
      e.path === f.path && e.type === f.type && e.mode === f.mode && e.uid === f.uid && e.gid === f.gid &&
      e.nlink === f.nlink && e.target === f.target && e.linkGroup === f.linkGroup &&
      (e.data === undefined ? f.data === undefined : f.data !== undefined && e.data.equals(f.data))
    );
  });
}

/** The engine side of a run: the store, and the layers opened, parallel to `StoreModel.handles`. */
export interface UnionReal {
  readonly store: Store;
  readonly layers: Layer[];
  /** A layer per live snapshot id, mounted to read trees for comparison. */
  readonly inspectors: Map<number, Layer>;
  /** The store's block size, for the block accounting checks. */
  readonly blockSize: number;
}

export type UnionCommand = fc.AsyncCommand<StoreModel, UnionReal>;
