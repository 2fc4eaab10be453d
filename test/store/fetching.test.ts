import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import type { Hasher } from '../../src/hashing/Hasher.js';
import { InlineHasher } from '../../src/hashing/InlineHasher.js';
import type { BlockSource, SourceRecord } from '../../src/store/BlockSource.js';
import { FetchingBlockStore } from '../../src/store/FetchingBlockStore.js';
import { MemoryBlockStore } from '../../src/store/MemoryBlockStore.js';

/**
 * `FetchingBlockStore` against sources that answer what they are told to: the store, not the
 * source, decides which fetched bytes are served and kept (src/store/BlockSource.ts). The
 * registry source over a real registry is tested in test/registry/lazy*.test.ts.
 */
const BLOCK = 4096;
const idOf = (bytes: Uint8Array): BlockId => createHash('sha256').update(bytes).digest('hex') as BlockId;

/** A hasher that counts what it hashes. */
class CountingHasher implements Hasher {
  readonly threads = 0;
  readonly #inner = new InlineHasher();
  bytes = 0;
  async hash(blocks: readonly Uint8Array[]): Promise<BlockId[]> {
    for (const block of blocks) this.bytes += block.byteLength;
    return this.#inner.hash(blocks);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A source holding `blocks`, answering `lies` (id → other bytes) instead where given, counting its calls. */
class MapSource implements BlockSource {
  readonly record: SourceRecord = { kind: 'test', name: 'test:map', spec: null, blobs: [] };
  readonly calls: BlockId[][] = [];
  constructor(readonly blocks: Map<BlockId, Uint8Array>, readonly lies = new Map<BlockId, Uint8Array>()) {}
  covers(id: BlockId): boolean {
    return this.blocks.has(id);
  }
  async fetch(ids: readonly BlockId[]): Promise<Map<BlockId, Uint8Array>> {
    this.calls.push([...ids]);
    const found = new Map<BlockId, Uint8Array>();
    for (const id of ids) {
      const bytes = this.lies.get(id) ?? this.blocks.get(id);
      if (bytes !== undefined) found.set(id, Buffer.from(bytes));
    }
    return found;
  }
}

/** A `MapSource` whose calls wait until `open()`, counting how many wait at once. */
class GatedSource extends MapSource {
  inFlight = 0;
  maxInFlight = 0;
  #open!: () => void;
  readonly #gate = new Promise<void>((resolve) => (this.#open = resolve));
  open(): void {
    this.#open();
  }
  override async fetch(ids: readonly BlockId[]): Promise<Map<BlockId, Uint8Array>> {
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    await this.#gate;
    this.inFlight--;
    return super.fetch(ids);
  }
}

function blocksOf(count: number, size = BLOCK): Map<BlockId, Uint8Array> {
  const blocks = new Map<BlockId, Uint8Array>();
  for (let i = 0; i < count; i++) {
    const bytes = randomBytes(size);
    blocks.set(idOf(bytes), bytes);
  }
  return blocks;
}

function storeOver(source: BlockSource, hasher: Hasher, blockSize = BLOCK): { store: FetchingBlockStore; inner: MemoryBlockStore } {
  const inner = new MemoryBlockStore(blockSize, hasher);
  return { store: new FetchingBlockStore(inner, hasher, undefined, [source]), inner };
}

describe('a fetching block store', () => {
  it('hashes each fetched block once: to check it, and stores it under that hash without hashing again', async () => {
    const blocks = blocksOf(8);
    const source = new MapSource(blocks);
    const hasher = new CountingHasher();
    const { store, inner } = storeOver(source, hasher);
    const ids = [...blocks.keys()];
    const got = await Promise.all(ids.map((id) => store.get(id)));
    await store.settled();
    got.forEach((bytes, i) => expect(Buffer.from(bytes).equals(blocks.get(ids[i]!)!)).toBe(true));
    expect(source.calls).toEqual([ids]); // one read's misses in one call
    expect(hasher.bytes).toBe(8 * BLOCK);
    expect(ids.every((id) => inner.has(id))).toBe(true);
    // Kept: read again, nothing is fetched or hashed.
    await Promise.all(ids.map((id) => store.get(id)));
    expect(source.calls).toHaveLength(1);
    expect(hasher.bytes).toBe(8 * BLOCK);
    await store.close();
  });

  it('refuses bytes that do not hash to the id asked for (EINTEGRITY), keeps none of them, and serves the rest of the call', async () => {
    const blocks = blocksOf(4);
    const ids = [...blocks.keys()];
    const liar = new MapSource(blocks, new Map([[ids[1]!, randomBytes(BLOCK)]]));
    const { store, inner } = storeOver(liar, new InlineHasher());
    const results = await Promise.allSettled(ids.map((id) => store.get(id)));
    await store.settled();
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const refused = (results[1] as PromiseRejectedResult).reason as NodeJS.ErrnoException;
    expect(refused.code).toBe('EINTEGRITY');
    expect(refused.message).toContain(ids[1]);
    expect(refused.message).toContain('test:map');
    expect(inner.has(ids[1]!)).toBe(false);
    expect([0, 2, 3].every((i) => inner.has(ids[i]!))).toBe(true);
    expect(store.isRemote(ids[1]!)).toBe(true);
    // Fetched again when read again; the source now answers right.
    liar.lies.clear();
    expect(Buffer.from(await store.get(ids[1]!)).equals(blocks.get(ids[1]!)!)).toBe(true);
    expect(liar.calls.at(-1)).toEqual([ids[1]]);
    await store.close();
  });

  it('rejects every read of a call whose hashing fails, and keeps nothing of it', async () => {
    const blocks = blocksOf(3);
    const hasher = new InlineHasher();
    const { store, inner } = storeOver(new MapSource(blocks), hasher);
    await hasher.close();
    const results = await Promise.allSettled([...blocks.keys()].map((id) => store.get(id)));
    expect(results.every((result) => result.status === 'rejected' && (result.reason as NodeJS.ErrnoException).code === 'EBADF')).toBe(true);
    expect([...blocks.keys()].some((id) => inner.has(id))).toBe(false);
  });

  it('keeps 8 source calls in flight at most: twelve small reads, one call each, 8 at once', async () => {
    const blocks = blocksOf(12);
    const source = new GatedSource(blocks);
    const { store } = storeOver(source, new InlineHasher());
    const reads: Promise<Uint8Array>[] = [];
    for (const id of blocks.keys()) {
      reads.push(store.get(id));
      await turn(); // each read its own turn, so its own source call
    }
    expect(source.inFlight).toBe(8);
    source.open();
    await Promise.all(reads);
    expect(source.calls).toHaveLength(12);
    expect(source.maxInFlight).toBe(8);
    await store.close();
  });

  it('keeps 64 MiB of blocks asked for at most: five reads of 16 MiB, 4 at once', async () => {
    const MiB = 1 << 20;
    const blocks = blocksOf(80, MiB);
    const source = new GatedSource(blocks);
    const { store } = storeOver(source, new InlineHasher(), MiB);
    const ids = [...blocks.keys()];
    const reads: Promise<Uint8Array[]>[] = [];
    for (let read = 0; read < 5; read++) {
      reads.push(Promise.all(ids.slice(read * 16, read * 16 + 16).map((id) => store.get(id)))); // one call of 16 MiB
      await turn();
    }
    expect(source.inFlight).toBe(4);
    source.open();
    await Promise.all(reads);
    expect(source.calls.map((call) => call.length)).toEqual([16, 16, 16, 16, 16]);
    expect(source.maxInFlight).toBe(4);
    await store.close();
  });
});
