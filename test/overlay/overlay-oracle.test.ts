import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { envNumber } from '../conformance/storeFactories.js';
import { Jail, overlayUnavailable, Scratch, sweepLeftovers } from './kernel.js';
import { oracleCaseArb, runOracleCase } from './oracleCase.js';
import { Tally } from './Tally.js';

/**
 * The Linux kernel's overlayfs as a test oracle for cowstack's union semantics (issue 7): random
 * stacks of committed layers, written in overlayfs's own format and mounted by the kernel, then the
 * same random calls on a cowstack container and through the mount, compared call by call and tree
 * by tree; finally the container's `exportLayer`, converted and mounted, against its committed
 * snapshot. oracleCase.ts has the steps and the documented overlayfs differences it names.
 *
 * Needs root, overlayfs, and `mknod`, `setfattr` (package `attr`) and `chroot`; skipped with the
 * reason anywhere else. Settings: COWSTACK_OVERLAY_RUNS (default 200), COWSTACK_OVERLAY_SEED and
 * COWSTACK_OVERLAY_PATH to replay a failure fast-check reported.
 */
const unavailable = await overlayUnavailable();
const numRuns = envNumber('COWSTACK_OVERLAY_RUNS', 200);
const seed = process.env['COWSTACK_OVERLAY_SEED'];
const path = process.env['COWSTACK_OVERLAY_PATH'];

if (unavailable !== undefined) console.warn(`overlayfs oracle skipped: ${unavailable}`);

describe.skipIf(unavailable !== undefined)(`overlayfs as an oracle${unavailable === undefined ? '' : ` (skipped: ${unavailable})`}`, () => {
  let scratch: Scratch | undefined;
  let jail: Jail;

  beforeAll(async () => {
    const swept = await sweepLeftovers();
    if (swept.length > 0) console.warn(`removed leftovers of earlier runs: ${swept.join(', ')}`);
    scratch = await Scratch.create();
    jail = await Jail.create(scratch.path('jail'));
  });

  afterAll(async () => {
    await scratch?.dispose();
  });

  it('a cowstack container behaves as the kernel on the same layers, and its exported layer mounts as its snapshot', { timeout: 30 * 60_000 }, async () => {
    const tally = new Tally();
    try {
      await fc.assert(
        fc.asyncProperty(oracleCaseArb, async (c) => {
          await runOracleCase(c, { scratch: scratch!, jail, tally });
        }),
        { numRuns, ...(seed === undefined ? {} : { seed: Number(seed) }), ...(path === undefined ? {} : { path }) },
      );
    } finally {
      console.info(`overlayfs oracle: ${tally.summary()}`);
    }
  });
});
