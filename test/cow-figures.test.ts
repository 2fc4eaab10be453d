import { describe, expect, it } from 'vitest';
import { openStore } from '../src/index.js';

const BLOCK = 4096;

/** Non-repeating content: each 4-byte word holds its own offset mixed with a seed, so no two blocks are equal. */
function distinctBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0; offset + 4 <= size; offset += 4) out.writeUInt32LE(((offset / 4) ^ seed) >>> 0, offset);
  return out;
}

describe('block-level copy-on-write, exactly', () => {
  it('overwriting one byte of a 64 MiB file costs exactly one block', async () => {
    const store = await openStore({ workers: 0, blockSize: BLOCK });
    const image = await store.prepare('image-rw');
    const data = distinctBytes(64 << 20, 0x5eed);
    await image.mkdir('/var');
    await image.writeFile('/var/db.sqlite', data);
    await store.commit('image', 'image-rw');
    expect((await store.stats()).storedBytes).toBe(64 << 20);

    const container = await store.prepare('container', 'image');
    const before = (await store.stats()).storedBytes;
    const handle = await container.open('/var/db.sqlite', 'r+');
    await handle.write(Buffer.from([data[5_000_000]! ^ 0xff]), 0, 1, 5_000_000);
    await handle.close();

    expect(await store.usage('container')).toEqual({ size: BLOCK, blocks: 1, inodes: 1 });
    expect((await store.stats()).storedBytes - before).toBe(BLOCK);
    const expected = Buffer.from(data);
    expected[5_000_000] ^= 0xff;
    expect((await container.readFile('/var/db.sqlite')).equals(expected)).toBe(true);
    expect((await (await store.view('check', 'image')).readFile('/var/db.sqlite')).equals(data)).toBe(true);
    await store.close();
  });

  it('100 containers on one image, one block each, store the image once plus 100 blocks', async () => {
    const store = await openStore({ workers: 0, blockSize: BLOCK });
    const image = await store.prepare('image-rw');
    const size = 8 << 20;
    await image.writeFile('/data.bin', distinctBytes(size, 0x1a6e));
    await store.commit('image', 'image-rw');
    for (let i = 0; i < 100; i++) {
      const container = await store.prepare(`c${i}`, 'image');
      const handle = await container.open('/data.bin', 'r+');
      await handle.write(Buffer.from(`container ${i} was here`), 0, undefined, i * BLOCK + 100);
      await handle.close();
    }
    const stats = await store.stats();
    expect(stats.storedBytes).toBe(size + 100 * BLOCK);
    expect(stats.blocks).toBe(size / BLOCK + 100);
    for (let i = 0; i < 100; i += 33) expect(await store.usage(`c${i}`)).toEqual({ size: BLOCK, blocks: 1, inodes: 1 });
    await store.close();
  });

  it('stores no space for holes, and reads them back as zeros', async () => {
    const store = await openStore({ workers: 0, blockSize: BLOCK });
    const layer = await store.prepare('sparse');
    await layer.writeFile('/zeros', Buffer.alloc(10 * BLOCK));
    const handle = await layer.open('/sparse', 'w');
    await handle.write(Buffer.from('end'), 0, 3, 100 * BLOCK);
    await handle.close();
    await layer.truncate('/zeros', 20 * BLOCK + 5);
    expect((await store.stats()).storedBytes).toBe(3);
    const sparse = await layer.readFile('/sparse');
    expect(sparse.length).toBe(100 * BLOCK + 3);
    expect(sparse.subarray(0, 100 * BLOCK).every((b) => b === 0)).toBe(true);
    expect(sparse.subarray(100 * BLOCK).toString()).toBe('end');
    expect((await layer.readFile('/zeros')).every((b) => b === 0)).toBe(true);
    await store.close();
  });

  it('truncate then extend reads zeros where the cut data was', async () => {
    const store = await openStore({ workers: 0, blockSize: BLOCK });
    const layer = await store.prepare('t');
    await layer.writeFile('/f', Buffer.alloc(BLOCK + 100, 0xaa));
    await layer.truncate('/f', 50);
    await layer.truncate('/f', BLOCK * 2);
    const back = await layer.readFile('/f');
    expect(back.subarray(0, 50).every((b) => b === 0xaa)).toBe(true);
    expect(back.subarray(50).every((b) => b === 0)).toBe(true);
    await store.close();
  });
});
