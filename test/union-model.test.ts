import fc from 'fast-check';
import { describe, it } from 'vitest';
import { envNumber, storeFactories } from './conformance/storeFactories.js';
import { StoreModel, type UnionReal } from './model/StoreModel.js';
import { assertSameStores } from './model/tree.js';
import { unionCommands } from './model/UnionCommands.js';

/**
 * The union-filesystem model test: random sequences of layer and snapshot calls run on the engine
 * and on the reference model (test/model), and after every call every live snapshot's tree must
 * equal the model's. A fresh store and a fresh model per run; each run starts with one empty
 * container, `s0`, mounted as layer 0.
 *
 * Settings from the environment: COWSTACK_FC_RUNS (runs per store kind; default 1000 on the
 * memory store, fewer where worker threads make each fresh store slow to start, see
 * storeFactories), COWSTACK_FC_COMMANDS (the longest sequence, default 40), COWSTACK_FC_SEED and
 * COWSTACK_FC_PATH to replay a failure fast-check reported. One store kind only:
 * `npx vitest run test/union-model.test.ts -t "on memory store"`.
 */
const maxCommands = envNumber('COWSTACK_FC_COMMANDS', 40);
const seed = process.env['COWSTACK_FC_SEED'];
const path = process.env['COWSTACK_FC_PATH'];

describe.each(storeFactories)('union model on $name store', (factory) => {
  it('behaves as the reference model after every call', { timeout: 30 * 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(unionCommands(maxCommands), async (commands) => {
        const store = await factory.open();
        try {
          const setup = async (): Promise<{ model: StoreModel; real: UnionReal }> => {
            const model = new StoreModel();
            const first = model.prepare('s0');
            model.handles.push({ key: 's0', snapshotId: first.id, readOnly: false });
            const real: UnionReal = { store, layers: [await store.prepare('s0')], inspectors: new Map(), blockSize: factory.blockSize };
            await assertSameStores(model, real);
            return { model, real };
          };
          await fc.asyncModelRun(setup, commands);
        } finally {
          await store.close();
        }
      }),
      {
        numRuns: envNumber('COWSTACK_FC_RUNS', factory.defaultRuns),
        ...(seed === undefined ? {} : { seed: Number(seed) }),
        ...(path === undefined ? {} : { path }),
      },
    );
  });
});
