import type { Store } from '../model/api.js';
import type { StoreModel, UnionCommand, UnionReal } from '../model/StoreModel.js';
import { assertSameStores } from '../model/tree.js';

/** The engine side of a disk-store run: `UnionReal`, whose store can be closed and opened again from its directory. */
export interface DiskReal extends UnionReal {
  /** Opens the store again from the same directory, with the same options. */
  reopen(): Promise<Store>;
}

/**
 * `close()`, then `openStore` again on the same directory: a restart of the process. Nothing
 * changes for the model: every snapshot, committed, active or view, is there with the same tree
 * (close saves what active snapshots hold). Layers of the old store answer EBADF from now on,
 * so every layer of a snapshot that still exists is re-obtained with `mount(key)`, in its place
 * in the run's list of layers; layers of dead snapshots stay as they were (EBADF either way).
 */
export class ReopenCommand implements UnionCommand {
  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const real = r as DiskReal;
    await real.store.close();
    const store = await real.reopen();
    (real as { store: Store }).store = store;
    real.inspectors.clear();
    for (const [i, handle] of m.handles.entries()) {
      if (m.live(handle) === undefined) continue;
      const layer = await store.mount(handle.key);
      if (layer.readOnly !== handle.readOnly) throw new Error(`L${i} = mount(${handle.key}) after reopen: readOnly is ${layer.readOnly}, the layer was ${handle.readOnly}`);
      real.layers[i] = layer;
    }
    await assertSameStores(m, real);
  }

  toString(): string {
    return 'close() and reopen';
  }
}
