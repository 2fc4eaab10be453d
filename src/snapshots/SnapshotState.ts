import type { BlockId } from '../core/BlockId.js';
import type { Tree } from '../core/Tree.js';
import type { OpenFile } from '../layer/OpenFile.js';
import { SerialQueue } from './SerialQueue.js';

export type SnapshotKind = 'active' | 'committed' | 'view';

/**
 * One snapshot as the store holds it. Committed snapshots and views never change `tree`; an
 * active snapshot's `tree` is replaced (never mutated) by each write, in `queue` order.
 *
 * Invariants: `alive` turns false exactly once, when the snapshot is removed, committed without
 * `keep`, or its store closed; every `Layer` on it then rejects with `EBADF`. `openFiles` holds
 * the open handles of an active snapshot, whose inodes are garbage-collection roots.
 */
export class SnapshotState {
  readonly key: string;
  kind: SnapshotKind;
  parent: string | undefined;
  labels: Record<string, string>;
  readonly created: Date;
  updated: Date;
  tree: Tree;
  alive = true;
  /** Set when the stored tree could not be read: every call on the snapshot rejects with `EINTEGRITY`. */
  damaged: { readonly id: BlockId; readonly error: Error } | undefined;
  readonly queue = new SerialQueue();
  readonly openFiles = new Set<OpenFile>();

  constructor(key: string, kind: SnapshotKind, parent: string | undefined, labels: Record<string, string>, tree: Tree, now: Date) {
    this.key = key;
    this.kind = kind;
    this.parent = parent;
    this.labels = labels;
    this.tree = tree;
    this.created = now;
    this.updated = now;
  }
}
