import { openStore, type Store } from '../../src/index.js';
import { NodeFileSystem } from '../../src/store/disk/NodeFileSystem.js';
import { PackStore } from '../../src/store/disk/PackStore.js';
import { distinctData } from './data.js';
import type { Scratch } from './scratch.js';

/** Enough to fill two 4 MiB hashing slabs per worker of a 2–4 thread pool, so every worker starts. */
const PRIME_BYTES = 16 * 1024 * 1024;
const PRIME_SEED = 0x9e1;

/** Where a store keeps its blocks. */
export type StoreKind = 'memory' | 'disk';

export interface StoreOptions {
  readonly blockSize?: number;
  readonly workers?: number;
  readonly verifyReads?: boolean;
}

/**
 * A store under test: the engine's public API over memory or a fresh temp directory. `close()`
 * closes the store and removes its directory; `reopen()` closes and opens the same directory
 * with other options (a disk store's `verifyReads` is an open option).
 */
export class StoreUnderTest {
  readonly kind: StoreKind;
  readonly dir: string | undefined;
  #store: Store;
  readonly #scratch: Scratch;

  private constructor(kind: StoreKind, store: Store, dir: string | undefined, scratch: Scratch) {
    this.kind = kind;
    this.#store = store;
    this.dir = dir;
    this.#scratch = scratch;
  }

  /**
   * Opens a fresh store. With `primed`, it first writes and drops 16 MiB (untimed), so that its
   * hashing threads have started (about 0.2 s on a loaded machine) before anything is timed,
   * then collects the garbage: the store holds no block when this resolves.
   */
  static async open(kind: StoreKind, options: StoreOptions, scratch: Scratch, primed = false): Promise<StoreUnderTest> {
    const dir = kind === 'disk' ? scratch.dir('store') : undefined;
    const target = new StoreUnderTest(kind, await openStore({ ...options, ...(dir === undefined ? {} : { dir }) }), dir, scratch);
    if (primed) {
      const layer = await target.store.prepare('prime.work');
      await layer.writeFile('/prime.bin', distinctData(PRIME_BYTES, PRIME_SEED));
      await target.store.remove('prime.work');
      await target.store.gc();
    }
    return target;
  }

  get store(): Store {
    return this.#store;
  }

  /** Closes and opens again with `options` (disk only; a memory store's contents would be lost). */
  async reopen(options: StoreOptions): Promise<void> {
    await this.whileClosed(async () => undefined, options);
  }

  /** Closes the store, runs `task` on its directory, and opens it again with `options` (disk only). */
  async whileClosed<T>(task: (dir: string) => Promise<T>, options: StoreOptions): Promise<T> {
    if (this.dir === undefined) throw new Error('a memory store cannot be reopened');
    await this.#store.close();
    try {
      return await task(this.dir);
    } finally {
      this.#store = await openStore({ ...options, dir: this.dir });
    }
  }

  /** Closes the store without removing its directory (to inspect the files). */
  async closeOnly(): Promise<void> {
    await this.#store.close();
  }

  async close(): Promise<void> {
    await this.#store.close();
    if (this.dir !== undefined) this.#scratch.remove(this.dir);
  }
}

/** Writes `data` as `path` in a new active snapshot on `parent` and commits it as `key`. */
export async function commitFile(store: Store, key: string, parent: string | undefined, path: string, data: Uint8Array): Promise<void> {
  const work = `${key}.work`;
  const layer = await store.prepare(work, parent);
  await layer.writeFile(path, data);
  await store.commit(key, work);
}

/**
 * The packs' tree-node bytes and file bytes of the closed disk store in `dir`, read from its
 * index (the engine's own `PackStore`, opened read-only: the public API does not expose them).
 */
export async function packStats(dir: string): Promise<{ nodeBytes: number; nodes: number; packBytes: number }> {
  const packs = await PackStore.open({ fs: new NodeFileSystem(), dir, readOnly: true });
  try {
    const nodes = packs.stats('node');
    return { nodeBytes: nodes.bytes, nodes: nodes.count, packBytes: packs.packBytes() };
  } finally {
    await packs.close();
  }
}
