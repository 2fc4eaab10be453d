import type { BlockRef } from '../core/BlockVector.js';
import type { BlockStore } from '../store/BlockStore.js';
import type { WriteGate } from '../snapshots/WriteGate.js';

/** What a layer needs from the store that mounted it. */
export interface LayerHost {
  readonly blocks: BlockStore;
  /** Held shared by every write, so the garbage collector never sweeps a block in flight. */
  readonly gate: WriteGate;
  /** Throws `EBADF` once the store is closed. */
  checkOpen(syscall: string, path?: string): void;
  /** Throws `EIO` once the store has failed a write (it fails closed); see `BlockStore.checkWritable`. */
  checkWritable(syscall: string): void;
  /**
   * Asks for blocks a read will want soon (read-ahead): those a block source has still to fetch
   * are fetched in the background; stored ones, and holes, are left alone. Never waits, never fails.
   */
  prefetch(refs: readonly BlockRef[]): void;
  /** Makes everything acknowledged so far durable (nothing to do in memory). */
  sync(): Promise<void>;
}
