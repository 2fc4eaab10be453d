import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import type { Store } from '../model/api.js';
import { StoreModel } from '../model/StoreModel.js';
import { assertSameStores } from '../model/tree.js';
import { allCommands } from '../model/UnionCommands.js';
import type { UnionCommand } from '../model/StoreModel.js';
import { BLOCK, TempDirs, envNumber, openDisk } from './helpers.js';
import { ReopenCommand, type DiskReal } from './ReopenCommand.js';

/**
 * The union-filesystem model test (test/union-model.test.ts, test/model/) on a disk store, with
 * one more command: close the store and open it again from its directory. Every command of the
 * model runs as it does on the memory store, and after a reopen every snapshot must still equal
 * its model. Small packs (32 KiB) make `gc()` compact.
 *
 * COWSTACK_DISK_FC_RUNS (default 100) runs; COWSTACK_FC_COMMANDS (default 30) commands at most;
 * COWSTACK_FC_SEED and COWSTACK_FC_PATH replay a failure.
 */
const numRuns = envNumber('COWSTACK_DISK_FC_RUNS', 100);
const maxCommands = envNumber('COWSTACK_FC_COMMANDS', 30);
const seed = process.env['COWSTACK_FC_SEED'];
const path = process.env['COWSTACK_FC_PATH'];
const PACK_TARGET = 32 << 10;

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

/** The model's commands, and a reopen about as often as a commit. */
const commands: fc.Arbitrary<UnionCommand>[] = [...allCommands, fc.constant(new ReopenCommand()), fc.constant(new ReopenCommand())];

describe('union model on a disk store, with close and reopen', () => {
  it('behaves as the reference model after every call, across reopens', { timeout: 30 * 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands, size: 'medium' }), async (cmds) => {
        const dir = await dirs.make('cowstack-disk-model-');
        const open = (): Promise<Store> => openDisk(dir, { packTarget: PACK_TARGET });
        let real: DiskReal | undefined;
        try {
          const setup = async (): Promise<{ model: StoreModel; real: DiskReal }> => {
            const model = new StoreModel();
            const first = model.prepare('s0');
            model.handles.push({ key: 's0', snapshotId: first.id, readOnly: false });
            const store = await open();
            real = { store, layers: [await store.prepare('s0')], inspectors: new Map(), blockSize: BLOCK, reopen: open };
            await assertSameStores(model, real);
            return { model, real };
          };
          await fc.asyncModelRun(setup, cmds);
        } finally {
          await real?.store.close();
          await dirs.removeAll();
        }
      }),
      {
        numRuns,
        ...(seed === undefined ? {} : { seed: Number(seed) }),
        ...(path === undefined ? {} : { path }),
      },
    );
  });
});
