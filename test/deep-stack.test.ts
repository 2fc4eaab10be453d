import { describe, expect, it } from 'vitest';
import { nodeVisits } from '../src/core/nodeVisits.js';
import { openStore } from '../src/index.js';

/** Map nodes visited by one read of `path` through `layer`. */
async function visitsToRead(read: () => Promise<unknown>): Promise<number> {
  const before = nodeVisits.count;
  await read();
  return nodeVisits.count - before;
}

describe('deep stacks', () => {
  it('reads a file at the bottom of a 1000-layer chain visiting as many map nodes as at depth 1', async () => {
    const store = await openStore({ workers: 0, blockSize: 4096 });
    const base = await store.prepare('layer-0');
    await base.mkdir('/usr/lib', { recursive: true });
    await base.mkdir('/var');
    await base.writeFile('/usr/lib/libdeep.so', Buffer.alloc(3 * 4096 + 10, 7));
    await store.commit('c-0', 'layer-0');
    const shallow = await store.view('v-1', 'c-0');
    const atDepth1 = await visitsToRead(() => shallow.readFile('/usr/lib/libdeep.so'));

    let parent = 'c-0';
    for (let depth = 1; depth < 1000; depth++) {
      const layer = await store.prepare(`layer-${depth}`, parent);
      await layer.writeFile(`/var/layer-${depth}`, `this is layer ${depth}`);
      await store.commit(`c-${depth}`, `layer-${depth}`);
      parent = `c-${depth}`;
    }
    const deep = await store.view('v-1000', parent);
    const atDepth1000 = await visitsToRead(() => deep.readFile('/usr/lib/libdeep.so'));
    expect(await deep.readFile('/usr/lib/libdeep.so')).toEqual(Buffer.alloc(3 * 4096 + 10, 7));
    expect(atDepth1).toBeGreaterThan(0);
    expect(atDepth1000).toBe(atDepth1);
    expect((await deep.readdir('/var')).length).toBe(999);
    await store.close();
  });
});
