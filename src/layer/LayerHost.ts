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
  /** Makes everything acknowledged so far durable (nothing to do in memory). */
  sync(): Promise<void>;
}
