import { afterEach, describe, expect, it } from 'vitest';
import { BLOCK, TempDirs, describeCheck, openDisk, pseudoRandomBytes, sha } from './helpers.js';

/**
 * Data blocks and tree nodes are both records named by the SHA-256 of their bytes, in the same
 * packs and the same index. A file's content can be byte for byte a tree node's encoding: a
 * block-vector node ('V', height, two bitmap words, the block ids; src/store/disk/TreeCodec.ts)
 * holds no time, so it is predictable from the content of the file it describes. Whichever is
 * stored first, the other must still read, and gc must not take one for the other.
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

/** The encoding of the block-vector node of a one-block file whose block is `block`. */
function vectorNodeOf(block: Buffer): Buffer {
  const head = Buffer.from([0x56, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, Buffer.from(sha(block), 'hex')]);
}

describe('a file whose content is the encoding of a tree node', () => {
  const block = pseudoRandomBytes(BLOCK, 4242);
  const lookalike = vectorNodeOf(block);

  it('reads back, when the node was stored first', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir);
    try {
      const victim = await store.prepare('w-victim');
      await victim.writeFile('/f', block);
      await store.commit('victim', 'w-victim');
      const other = await store.prepare('w-other');
      await other.writeFile('/lookalike', lookalike);
      await store.commit('other', 'w-other');
      expect((await (await store.mount('other')).readFile('/lookalike')).equals(lookalike)).toBe(true);
      const report = await store.check();
      expect(report.ok, describeCheck(report)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('stored first, then removed and collected, does not take another snapshot\'s tree node with it', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir);
    const other = await store.prepare('w-other');
    await other.writeFile('/lookalike', lookalike);
    await store.commit('other', 'w-other');
    const victim = await store.prepare('w-victim');
    await victim.writeFile('/f', block);
    await store.commit('victim', 'w-victim');
    await store.remove('other');
    await store.gc();
    await store.close();

    const reopened = await openDisk(dir);
    try {
      const report = await reopened.check();
      expect(report.ok, describeCheck(report)).toBe(true);
      expect((await (await reopened.mount('victim')).readFile('/f')).equals(block)).toBe(true);
    } finally {
      await reopened.close();
    }
  });
});
