import fc from 'fast-check';
import { describe, it } from 'vitest';
import { HostLayer, hostStore } from './HostLayer.js';
import { StoreModel, type UnionReal } from './StoreModel.js';
import { assertSameStores } from './tree.js';
import { posixLayerCommands } from './UnionCommands.js';

/**
 * Checks the reference model against Linux itself: the union model's POSIX layer commands, run on
 * ReferenceFs and on node:fs over a real ext4 directory that is `/` of a chroot. Every disagreement
 * is a bug of the model (or a place where it knowingly follows API.md instead of Linux).
 *
 * Needs root: run it with `bash test/model/host-oracle.sh` (COWSTACK_FC_RUNS sets the run count).
 * Skipped anywhere else.
 */
const enabled = process.env['COWSTACK_HOST_ORACLE'] === '1';
const numRuns = Number(process.env['COWSTACK_FC_RUNS'] ?? 500);

describe.skipIf(!enabled)('ReferenceFs against Linux (host oracle)', () => {
  it('agrees with node:fs on ext4 for every POSIX layer command', { timeout: 60 * 60_000 }, async () => {
    process.umask(0);
    const layer = await HostLayer.open();
    const store = hostStore(layer, 4096);
    await fc.assert(
      fc.asyncProperty(fc.commands(posixLayerCommands, { maxCommands: 40, size: 'medium' }), async (commands) => {
        await layer.reset();
        const setup = async (): Promise<{ model: StoreModel; real: UnionReal }> => {
          const model = new StoreModel();
          const s0 = model.prepare('s0');
          model.handles.push({ key: 's0', snapshotId: s0.id, readOnly: false });
          const real: UnionReal = { store, layers: [layer], inspectors: new Map(), blockSize: 4096 };
          await assertSameStores(model, real);
          return { model, real };
        };
        await fc.asyncModelRun(setup, commands);
      }),
      { numRuns },
    );
  });
});
