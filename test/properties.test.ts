import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Change, Layer, Store } from './model/api.js';
import { applyAll, distinctBytes, type FsOp, fsOpsArb } from './conformance/fsOps.js';
import { envNumber, storeFactories } from './conformance/storeFactories.js';
import { formatTree, listTree } from './model/tree.js';

/**
 * Properties of snapshots and blocks (shared/API.md "Snapshots" and "Blocks"), on every store
 * kind. They predict nothing about single calls (the union model does that); they compare trees
 * and count blocks. COWSTACK_FC_RUNS scales the run counts down or up (default 1000 → ×1).
 */
const scale = envNumber('COWSTACK_FC_RUNS', 1000) / 1000;
const runs = (n: number): number => Math.max(1, Math.round(n * scale));

async function tree(layer: Layer, links = true): Promise<string[]> {
  return formatTree(await listTree(layer), { links });
}

async function withStore<T>(open: () => Promise<Store>, body: (store: Store) => Promise<T>): Promise<T> {
  const store = await open();
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

/** `ops` on a fresh container, committed as `img`. */
async function image(store: Store, ops: readonly FsOp[], key = 'img'): Promise<void> {
  const layer = await store.prepare(`${key}-build`);
  await applyAll(layer, ops);
  await store.commit(key, `${key}-build`);
}

describe.each(storeFactories)('snapshot properties on $name store', (factory) => {
  it('a committed snapshot never changes, whatever happens above it', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fsOpsArb(12), fc.array(fc.tuple(fc.nat({ max: 2 }), fsOpsArb(4)), { maxLength: 6 }), async (baseOps, above) => {
        await withStore(factory.open, async (store) => {
          await image(store, baseOps);
          const before = await tree(await store.mount('img'));
          const view = await store.view('v', 'img');
          const layers = [await store.prepare('c0', 'img'), await store.prepare('c1', 'img'), await store.mount('c1')];
          for (const [i, [which, ops]] of above.entries()) {
            await applyAll(layers[which]!, ops);
            if (i % 2 === 1) await store.commit(`keep${i}`, 'c1', { keep: true });
            if (i % 3 === 2) await store.gc();
          }
          expect(await tree(await store.mount('img'))).toEqual(before);
          expect(await tree(view)).toEqual(before);
        });
      }),
      { numRuns: runs(factory.defaultRuns / 10) },
    );
  });

  it('two containers on one parent never see each other\'s writes', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fsOpsArb(10), fsOpsArb(10), fsOpsArb(10), async (baseOps, ops1, ops2) => {
        await withStore(factory.open, async (store) => {
          await image(store, baseOps);
          const [c1, c2, alone1, alone2] = await Promise.all(['c1', 'c2', 'alone1', 'alone2'].map((k) => store.prepare(k, 'img')));
          // c1 and c2 concurrently; alone1 and alone2 each on its own, as the reference.
          await Promise.all([applyAll(c1!, ops1), applyAll(c2!, ops2)]);
          await applyAll(alone1!, ops1);
          await applyAll(alone2!, ops2);
          expect(await tree(c1!)).toEqual(await tree(alone1!));
          expect(await tree(c2!)).toEqual(await tree(alone2!));
        });
      }),
      { numRuns: runs(factory.defaultRuns / 10) },
    );
  });

  it('diff(key) replayed on the parent reproduces key\'s tree', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fsOpsArb(12), fsOpsArb(12), fc.boolean(), async (baseOps, ops, commitFirst) => {
        await withStore(factory.open, async (store) => {
          await image(store, baseOps);
          const source = await store.prepare('c', 'img');
          await applyAll(source, ops);
          let key = 'c';
          if (commitFirst) {
            await store.commit('top', 'c');
            key = 'top';
          }
          const from = await store.mount(key);
          const changes: Change[] = [];
          for await (const change of store.diff(key)) changes.push(change);
          const replay = await store.prepare('replay', 'img');
          for (const change of changes) await replayChange(change, from, replay);
          // Hard links cannot survive a copy: compare everything else.
          expect(await tree(replay, false)).toEqual(await tree(from, false));
        });
      }),
      { numRuns: runs(factory.defaultRuns / 10) },
    );
  });
});

/** Applies one change as a tool consuming diff() would: deleted → rm -r; added/modified → copy from key. */
async function replayChange(change: Change, from: Layer, to: Layer): Promise<void> {
  const { path, kind } = change;
  if (kind === 'deleted') {
    await to.rm(path, { recursive: true, force: true });
    return;
  }
  const st = await from.lstat(path);
  const existing = await to.lstat(path).catch(() => undefined);
  if (st.isDirectory()) {
    if (existing !== undefined && !existing.isDirectory()) await to.rm(path, { recursive: true, force: true });
    if (existing === undefined || !existing.isDirectory()) await to.mkdir(path);
    await to.chmod(path, st.mode & 0o7777);
    await to.chown(path, st.uid, st.gid);
    return;
  }
  if (existing !== undefined) await to.rm(path, { recursive: true, force: true });
  if (st.isSymbolicLink()) {
    await to.symlink(await from.readlink(path), path);
    return;
  }
  await to.writeFile(path, await from.readFile(path), { mode: st.mode & 0o7777 });
  await to.chmod(path, st.mode & 0o7777);
  await to.chown(path, st.uid, st.gid);
}

describe.each(storeFactories)('block accounting on $name store', (factory) => {
  const BS = factory.blockSize;

  it('usage(key) counts exactly the new blocks a container writes', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: BS - 1 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        async (k, rewritten, tail, seed) => {
          await withStore(factory.open, async (store) => {
            const base = await store.prepare('base');
            const parentFile = distinctBytes(4 * BS, `parent:${seed}`);
            await base.writeFile('/p', parentFile);
            await store.commit('img', 'base');
            const c = await store.prepare('c', 'img');
            expect(await store.usage('c')).toMatchObject({ size: 0, blocks: 0 });
            // k full new blocks in a new file, plus a short last block of `tail` bytes.
            await c.writeFile('/new', distinctBytes(k * BS + tail, `new:${seed}`));
            // `rewritten` full blocks of the parent's file overwritten in place with new contents.
            const fh = await c.open('/p', 'r+');
            for (let i = 0; i < rewritten; i++) await fh.write(distinctBytes(BS, `rewrite:${seed}:${i}`), 0, BS, i * BS);
            await fh.close();
            const usage = await store.usage('c');
            const blocks = k + rewritten + (tail > 0 ? 1 : 0);
            expect({ size: usage.size, blocks: usage.blocks }).toEqual({ size: (k + rewritten) * BS + tail, blocks });
          });
        },
      ),
      { numRuns: runs(50) },
    );
  });

  it('overwriting 1 byte of a 64 MiB file adds exactly one block to usage and to storedBytes', { timeout: 300_000 }, async () => {
    await withStore(factory.open, async (store) => {
      const size = 64 * 1024 * 1024;
      const contents = randomBytes(size);
      const base = await store.prepare('base');
      await base.writeFile('/big', contents);
      await store.commit('img', 'base');
      const baseline = await store.stats();
      expect(baseline.storedBytes).toBe(size);
      expect(baseline.blocks).toBe(size / BS);
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.constantFrom(0, BS - 1, BS, size - 1), fc.nat({ max: size - 1 })), async (offset) => {
          const c = await store.prepare('c', 'img');
          const fh = await c.open('/big', 'r+');
          await fh.write(Buffer.from([contents[offset]! ^ 0xff]), 0, 1, offset);
          await fh.close();
          expect(await store.usage('c')).toMatchObject({ size: BS, blocks: 1 });
          expect((await store.stats()).storedBytes - baseline.storedBytes).toBe(BS);
          await store.remove('c');
          await store.gc();
          expect((await store.stats()).storedBytes).toBe(baseline.storedBytes);
        }),
        { numRuns: runs(20) },
      );
    });
  });

  it('100 containers on one image, each overwriting one distinct block, add exactly 100 blocks', { timeout: 300_000 }, async () => {
    await withStore(factory.open, async (store) => {
      const base = await store.prepare('base');
      await base.writeFile('/img', distinctBytes(100 * BS, 'image'));
      await store.commit('img', 'base');
      const image = (await store.stats()).storedBytes;
      expect(image).toBe(100 * BS);
      for (let i = 0; i < 100; i++) {
        const c = await store.prepare(`c${i}`, 'img');
        const fh = await c.open('/img', 'r+');
        await fh.write(Buffer.from([0xff, i]), 0, 2, i * BS + 17);
        await fh.close();
      }
      expect((await store.stats()).storedBytes).toBe(image + 100 * BS);
      expect((await store.stats()).blocks).toBe(200);
    });
  });

  it('a file of zeros (a hole) adds no stored bytes and reads back as zeros', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(1, BS - 1, BS, BS + 1, 10 * BS), fc.nat({ max: 20 * BS })), fc.boolean(), async (n, viaTruncate) => {
        await withStore(factory.open, async (store) => {
          const c = await store.prepare('c');
          await c.writeFile('/data', distinctBytes(BS + 5, 'data'));
          const before = await store.stats();
          if (viaTruncate) {
            await c.writeFile('/zeros', '');
            await c.truncate('/zeros', n);
          } else {
            await c.writeFile('/zeros', Buffer.alloc(n));
          }
          expect(await store.stats()).toMatchObject({ storedBytes: before.storedBytes, blocks: before.blocks });
          const back = await c.readFile('/zeros');
          expect(back.length).toBe(n);
          expect(back.every((b) => b === 0)).toBe(true);
        });
      }),
      { numRuns: runs(30) },
    );
  });
});
