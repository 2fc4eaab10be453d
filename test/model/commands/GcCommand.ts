import { assertEqual } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores, referencedBlocks } from '../tree.js';

/**
 * `gc()`: afterwards the store holds exactly the distinct blocks live snapshots reference, the
 * report accounts for exactly what went, and (checked by `assertSameStores`) every tree is intact.
 */
export class GcCommand implements UnionCommand {
  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const before = await r.store.stats();
    const report = await r.store.gc();
    const after = await r.store.stats();
    const referenced = referencedBlocks([...m.snapshots.values()].map((s) => s.fs), r.blockSize);
    assertEqual('stats() after gc()', { blocks: after.blocks, storedBytes: after.storedBytes }, { blocks: referenced.blocks, storedBytes: referenced.bytes });
    assertEqual('gc() report', { blocksRemoved: report.blocksRemoved, bytesFreed: report.bytesFreed }, { blocksRemoved: before.blocks - after.blocks, bytesFreed: before.storedBytes - after.storedBytes });
    await assertSameStores(m, r);
  }

  toString(): string {
    return 'gc()';
  }
}
