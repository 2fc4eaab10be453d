import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyOps, changeOps, createOps, dumpLayer, openMemoryStore, type TreeOp } from '../image/kit.js';
import { registryFixture } from './fixture.js';
import { hasRegistry, skipReason } from './harness.js';

const RUNS = Number(process.env['COWSTACK_FC_RUNS_LAZY'] ?? 12);

/**
 * A lazy pull must give the tree a full pull gives, for any image: the same entries, metadata and
 * bytes, layer by layer, and a container on it must behave the same (a write into a lazily
 * pulled file reads the block it partly overwrites from the registry).
 */
describe.skipIf(!hasRegistry)(`lazy pull agrees with a full pull${skipReason}`, () => {
  const fixture = registryFixture();
  let image = 0;

  it(`on ${RUNS} random two-layer images, with a write into each container`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(createOps, { minLength: 1, maxLength: 10 }),
        fc.array(changeOps, { minLength: 0, maxLength: 8 }),
        fc.nat({ max: 80_000 }),
        async (baseOps: TreeOp[], childOps: TreeOp[], offset: number) => {
          const source = await openMemoryStore();
          const lazy = await openMemoryStore();
          const full = await openMemoryStore();
          try {
            const base = await source.prepare('base-work');
            await applyOps(base, baseOps);
            await source.commit('base', 'base-work');
            const child = await source.prepare('child-work', 'base');
            await applyOps(child, childOps);
            await source.commit('child', 'child-work');
            const ref = `${fixture.proxy.host}/property/image:${++image}`;
            await source.push('child', ref, { lazy: true });

            const lazyTop = await lazy.pull(ref, { lazy: true });
            const fullTop = await full.pull(ref);
            expect(lazyTop.key).toBe(fullTop.key);
            expect((await lazy.stats()).blocks).toBe(0);
            for (const key of [fullTop.key, fullTop.parent!]) {
              expect(await dumpLayer(await lazy.mount(key))).toEqual(await dumpLayer(await full.mount(key)));
            }

            // The same write into the first regular file of each, in a container on the image.
            const files = Object.entries(await dumpLayer(await full.mount(fullTop.key))).filter(([, node]) => node.type === 'file');
            if (files.length === 0) return;
            const [path] = files[0]!;
            for (const store of [lazy, full]) {
              const container = await store.prepare('c', fullTop.key);
              const handle = await container.open(path, 'r+');
              await handle.write(Buffer.from('written'), 0, 7, offset);
              await handle.close();
              await container.utimes(path, new Date(0), new Date(0)); // the write's own time differs by store
            }
            expect(await dumpLayer(await lazy.mount('c'))).toEqual(await dumpLayer(await full.mount('c')));
            await lazy.commit('c-done', 'c');
            await full.commit('c-done', 'c');
            expect(await lazy.usage('c-done')).toEqual(await full.usage('c-done'));
          } finally {
            await Promise.all([source.close(), lazy.close(), full.close()]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
