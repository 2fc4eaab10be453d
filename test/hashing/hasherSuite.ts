import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import type { Hasher } from '../../src/hashing/Hasher.js';
import { sha256Id } from '../../src/hashing/InlineHasher.js';

/**
 * The conformance suite every `Hasher` passes, run through a factory so each implementation gets
 * the same test bodies. The reference is `sha256Id`, the inline hash of one block.
 */
export function hasherSuite(name: string, make: () => Hasher): void {
  describe(`Hasher conformance: ${name}`, () => {
    const open: Hasher[] = [];
    const hasher = (): Hasher => {
      const made = make();
      open.push(made);
      return made;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((made) => made.close()));
    });

    it('resolves an empty list to an empty list', async () => {
      expect(await hasher().hash([])).toEqual([]);
    });

    it('hashes one block', async () => {
      const ids = await hasher().hash([new TextEncoder().encode('abc')]);
      expect(ids).toEqual(['ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad']);
    });

    it('hashes empty and all-zero blocks like any other', async () => {
      const blocks = [new Uint8Array(0), new Uint8Array(4096), new Uint8Array(1)];
      expect(await hasher().hash(blocks)).toEqual(blocks.map(sha256Id));
    });

    it('hashes many blocks of mixed sizes, views at odd offsets included', async () => {
      const bytes = pseudoRandomBytes(1 << 20, 1);
      const sizes = [4096, 4096, 1000, 0, 65536, 1, 70000, 4095, 131072, 3];
      const blocks = sizes.map((size, i) => bytes.subarray(i * 7919, i * 7919 + size));
      expect(await hasher().hash(blocks)).toEqual(blocks.map(sha256Id));
    });

    it('agrees with the reference on random block lists (0..300 blocks of 0..70000 bytes)', async () => {
      const h = hasher();
      const source = pseudoRandomBytes(200_000, 2);
      const block = fc
        .record({ size: fc.integer({ min: 0, max: 70_000 }), at: fc.nat() })
        .map(({ size, at }) => source.subarray(at % (source.length - size), (at % (source.length - size)) + size));
      // size 'max': without it fast-check keeps arrays to about 10 elements whatever maxLength says.
      await fc.assert(
        fc.asyncProperty(fc.array(block, { maxLength: 300, size: 'max' }), async (blocks) => {
          expect(await h.hash(blocks)).toEqual(blocks.map(sha256Id));
        }),
        { numRuns: 30, seed: 0x0c0ffee },
      );
    });

    it('answers concurrent overlapping calls each with its own ids', async () => {
      const h = hasher();
      const bytes = pseudoRandomBytes(1 << 20, 3);
      const calls = Array.from({ length: 40 }, (_, c) =>
        Array.from({ length: (c * 13) % 50 }, (_, i) => bytes.subarray((c * 1009 + i * 997) % 900_000, (c * 1009 + i * 997) % 900_000 + ((c + i) * 4099) % 70_000)),
      );
      const results = await Promise.all(calls.map((blocks) => h.hash(blocks)));
      expect(results).toEqual(calls.map((blocks) => blocks.map(sha256Id)));
    });

    it('hashes a large call (64 MiB in 4 KiB blocks)', async () => {
      const blocks = splitBlocks(pseudoRandomBytes(64 << 20, 4), 4096);
      expect(await hasher().hash(blocks)).toEqual(blocks.map(sha256Id));
    });

    it('never mutates a block', async () => {
      const bytes = pseudoRandomBytes(256 * 1024, 5);
      const before = Uint8Array.from(bytes);
      await hasher().hash(splitBlocks(bytes, 4096));
      expect(Buffer.compare(bytes, before)).toBe(0);
    });

    it('rejects with EBADF after close', async () => {
      const h = hasher();
      await h.close();
      await expect(h.hash([new Uint8Array(1)])).rejects.toMatchObject({ code: 'EBADF' });
      await expect(h.hash([])).rejects.toMatchObject({ code: 'EBADF' });
    });

    it('closes idempotently, concurrent closes included', async () => {
      const h = hasher();
      await Promise.all([h.close(), h.close()]);
      await expect(h.close()).resolves.toBeUndefined();
    });

    it('settles a call pending at close with its ids or EBADF, never anything else', async () => {
      const h = hasher();
      const blocks = splitBlocks(pseudoRandomBytes(32 << 20, 6), 65536);
      const pending = h.hash(blocks).then(
        (ids: BlockId[]) => ({ ids }),
        (error: unknown) => ({ error }),
      );
      await h.close();
      const outcome = await pending;
      if ('ids' in outcome) expect(outcome.ids).toEqual(blocks.map(sha256Id));
      else expect(outcome.error).toMatchObject({ code: 'EBADF' });
    });
  });
}

/** Deterministic bytes from a seed (xorshift32), cheap enough for tens of MiB. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const words = new Uint32Array(bytes.buffer, 0, Math.floor(length / 4));
  let x = seed | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < length; i++) bytes[i] = i * 31 + seed;
  return bytes;
}

/** Views of `bytes` in blocks of `size`, the last one shorter when the length is not a multiple. */
export function splitBlocks(bytes: Uint8Array, size: number): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) blocks.push(bytes.subarray(at, at + size));
  return blocks;
}
