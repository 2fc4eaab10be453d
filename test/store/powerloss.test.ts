import { readdir, readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Layer, Store } from '../../src/index.js';
import { FaultyFileSystem, mulberry32 } from '../support/FaultyFileSystem.js';
import { BLOCK, TempDirs, describeCheck, envNumber, openDisk, pseudoRandomBytes, rejection, sha, snapshotKeys } from './helpers.js';

/**
 * Power loss and process kills at random points of a random workload, through the durability
 * tracking of `FaultyFileSystem`: a seeded loop of seeds, each a store directory that goes through
 * several crashes. In each cycle the store is opened (recovering), checked and compared with what
 * was acknowledged; then a random workload (prepare, write, sync, commit, remove, update, gc, a
 * clean close and reopen) runs until the process "dies" before a random file operation; then,
 * most times, the power goes too: what was not fsynced is dropped, torn or garbled, and name
 * changes not made durable by a directory fsync are undone.
 *
 * What must hold after every crash: the store opens; `check()` is ok; every acknowledged commit is
 * there with exactly its files; every file of an active snapshot acknowledged by `sync()` (or by a
 * clean close) has exactly that content; acknowledged removes and label updates hold; and no
 * snapshot or content appears that was never written.
 *
 * COWSTACK_POWERLOSS_SEEDS (default 10) seeds of COWSTACK_POWERLOSS_CRASHES (default 4) crashes;
 * COWSTACK_POWERLOSS_SEED replays one seed.
 */
const SEEDS = envNumber('COWSTACK_POWERLOSS_SEEDS', 10);
const CRASHES = envNumber('COWSTACK_POWERLOSS_CRASHES', 4);
const ONE_SEED = process.env['COWSTACK_POWERLOSS_SEED'];
const PACK_TARGET = 24 << 10;

const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

/** Blocks that files are made of: a small pool, so that blocks repeat across files and snapshots (dedup). */
const POOL = [...Array(10).keys()].map((i) => pseudoRandomBytes(BLOCK, 500 + i));

interface FileModel {
  /** Every content the file may have after a crash (SHA-256); the last is its content now. */
  versions: string[];
  /** The content now. */
  bytes: Buffer;
  /** A version is durable: after a crash the file exists (if its snapshot does). */
  durable: boolean;
}

interface ActiveModel {
  parent: string | undefined;
  files: Map<string, FileModel>;
  /** Known to be in the catalog on disk: after a crash it must exist. */
  durable: boolean;
}

interface CommittedModel {
  parent: string | undefined;
  files: Map<string, Buffer>;
  /** Label values it may have (the last acknowledged, and one in flight). */
  labels: Record<string, string>[];
}

interface Pending {
  op: 'commit' | 'remove' | 'update';
  key: string;
  name?: string;
  labels?: Record<string, string>;
}

class Model {
  readonly committed = new Map<string, CommittedModel>();
  readonly active = new Map<string, ActiveModel>();
  pending: Pending | undefined;
  nextKey = 0;

  /**
   * After an acknowledged save of the catalog (sync, commit, remove, update, gc, close): it holds
   * every active snapshot with its content as it was, the catalog being saved whole.
   */
  saved(): void {
    for (const active of this.active.values()) {
      active.durable = true;
      for (const file of active.files.values()) {
        file.versions = [sha(file.bytes)];
        file.durable = true;
      }
    }
  }

  children(key: string): boolean {
    for (const s of [...this.committed.values(), ...this.active.values()]) if (s.parent === key) return true;
    return false;
  }
}

class Workload {
  readonly model = new Model();
  readonly log: string[] = [];
  readonly random: () => number;
  store!: Store;
  layers = new Map<string, Layer>();

  constructor(seed: number) {
    this.random = mulberry32(seed * 7919 + 1);
  }

  pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }

  content(): Buffer {
    const blocks = Math.floor(this.random() * 4);
    const parts: Buffer[] = [];
    for (let i = 0; i < blocks; i++) parts.push(this.random() < 0.15 ? Buffer.alloc(BLOCK) : this.pick(POOL)!);
    parts.push(pseudoRandomBytes(Math.floor(this.random() * 300), Math.floor(this.random() * 1e9)));
    return Buffer.concat(parts);
  }

  /** Runs one random step: 'died' when it rejected (the process died under it), 'closed' after a clean close. */
  async step(): Promise<'ok' | 'died' | 'closed'> {
    const m = this.model;
    const roll = this.random();
    const actives = [...m.active.keys()];
    const committed = [...m.committed.keys()];
    try {
      if (roll < 0.12 || actives.length === 0) {
        const key = `a${m.nextKey++}`;
        const parent = this.random() < 0.7 ? this.pick(committed) : undefined;
        this.log.push(`prepare(${key}, ${parent})`);
        this.layers.set(key, await this.store.prepare(key, parent));
        const files = new Map<string, FileModel>();
        if (parent !== undefined) {
          for (const [path, bytes] of m.committed.get(parent)!.files) files.set(path, { versions: [sha(bytes)], bytes, durable: true });
        }
        m.active.set(key, { parent, files, durable: false });
      } else if (roll < 0.5) {
        const key = this.pick(actives)!;
        const active = m.active.get(key)!;
        const path = `/f${Math.floor(this.random() * 6)}`;
        const existing = active.files.get(path);
        let bytes: Buffer;
        const layer = this.layers.get(key)!;
        if (existing !== undefined && this.random() < 0.4) {
          // A write into the middle of the file: block-level copy on write.
          const data = this.content().subarray(0, 1 + Math.floor(this.random() * 5000));
          const at = Math.floor(this.random() * (existing.bytes.length + 1));
          bytes = Buffer.concat([existing.bytes, Buffer.alloc(Math.max(0, at + data.length - existing.bytes.length))]);
          data.copy(bytes, at);
          this.log.push(`${key} write(${path}, ${data.length} bytes @${at})`);
          const handle = await layer.open(path, 'r+');
          try {
            await handle.write(data, 0, data.length, at);
          } finally {
            await handle.close();
          }
        } else {
          bytes = this.content();
          this.log.push(`${key} writeFile(${path}, ${bytes.length} bytes)`);
          await layer.writeFile(path, bytes);
        }
        const file = existing ?? { versions: [], bytes, durable: false };
        file.versions.push(sha(bytes));
        file.bytes = bytes;
        active.files.set(path, file);
      } else if (roll < 0.62) {
        const key = this.pick(actives)!;
        this.log.push(`${key} sync()`);
        await this.layers.get(key)!.sync();
        m.saved();
      } else if (roll < 0.77) {
        const key = this.pick(actives)!;
        const name = `c${m.nextKey++}`;
        this.log.push(`commit(${name}, ${key})`);
        m.pending = { op: 'commit', key, name };
        await this.store.commit(name, key);
        m.pending = undefined;
        this.committed(name, key);
      } else if (roll < 0.87) {
        const candidates = [...committed, ...actives].filter((key) => !m.children(key));
        const key = this.pick(candidates);
        if (key === undefined) return 'ok';
        this.log.push(`remove(${key})`);
        m.pending = { op: 'remove', key };
        await this.store.remove(key);
        m.pending = undefined;
        m.committed.delete(key);
        m.active.delete(key);
        this.layers.delete(key);
        m.saved();
      } else if (roll < 0.92) {
        const key = this.pick(committed);
        if (key === undefined) return 'ok';
        const labels = { n: String(m.nextKey++) };
        this.log.push(`update(${key}, ${labels.n})`);
        m.pending = { op: 'update', key, labels };
        m.committed.get(key)!.labels.push(labels);
        await this.store.update(key, { labels });
        m.pending = undefined;
        m.committed.get(key)!.labels = [labels];
        m.saved();
      } else if (roll < 0.97) {
        this.log.push('gc()');
        await this.store.gc();
        m.saved();
      } else {
        this.log.push('close() and reopen');
        await this.store.close();
        m.saved();
        return 'closed';
      }
      return 'ok';
    } catch (error) {
      const code = (error as { code?: string }).code;
      this.log.push(`  -> rejected ${code}: ${(error as Error).message}`);
      if (code !== 'EIO') throw new Error(`step rejected with ${code}, not EIO from the dying process:\n${this.log.slice(-12).join('\n')}`, { cause: error });
      return 'died';
    }
  }

  committed(name: string, key: string): void {
    const m = this.model;
    const active = m.active.get(key)!;
    m.committed.set(name, { parent: active.parent, files: new Map([...active.files].map(([path, file]) => [path, file.bytes])), labels: [{}] });
    m.active.delete(key);
    this.layers.delete(key);
    m.saved();
  }

  /**
   * After a crash and reopen: compares the store with the model, settles what was in flight, and
   * re-mounts active snapshots. What the store shows is taken as durable from then on; after a
   * process kill without power loss that is only so once something is saved (the dead process
   * may have renamed a catalog into place without making the rename durable), so `settle` first
   * saves the catalog as opened, through `sync()` of a layer. That keeps this test to what calls
   * acknowledge; that the state an open shows is durable by itself is tested on its own below.
   */
  async verify(context: string, settle: boolean): Promise<void> {
    const m = this.model;
    const fail = (message: string): never => {
      throw new Error(`${context}: ${message}\nlast steps:\n${this.log.slice(-15).join('\n')}`);
    };
    const report = await this.store.check();
    if (!report.ok) fail(`check() is not ok:\n${describeCheck(report)}`);
    const found = new Map<string, { kind: string; labels: Record<string, string>; parent: string | undefined }>();
    for await (const info of this.store.walk()) found.set(info.key, { kind: info.kind, labels: info.labels, parent: info.parent });
    const any = [...found.keys()][0];
    if (settle && any !== undefined) {
      this.log.push(`(settle: ${any} sync())`);
      await (await this.store.mount(any)).sync();
    }
    const pending = m.pending;
    m.pending = undefined;

    // What was in flight: settle by what is there.
    if (pending?.op === 'commit') {
      const landed = found.has(pending.name!);
      const keyThere = found.has(pending.key);
      if (landed && keyThere) fail(`commit(${pending.name}, ${pending.key}) half done: both exist`);
      if (landed) this.committed(pending.name!, pending.key);
      else if (!keyThere && m.active.get(pending.key)?.durable === true) fail(`commit(${pending.name}, ${pending.key}) lost both`);
    } else if (pending?.op === 'remove' && !found.has(pending.key)) {
      // Landed for sure only when the snapshot was on disk before; then it saved the rest too.
      const wasOnDisk = m.committed.has(pending.key) || m.active.get(pending.key)?.durable === true;
      m.committed.delete(pending.key);
      m.active.delete(pending.key);
      if (wasOnDisk) m.saved();
    } else if (pending?.op === 'update' && JSON.stringify(found.get(pending.key)?.labels) === JSON.stringify(pending.labels)) {
      m.saved();
    }

    for (const [key, committed] of m.committed) {
      const info = found.get(key);
      if (info === undefined) fail(`acknowledged committed snapshot ${key} is missing`);
      if (info!.kind !== 'committed') fail(`${key} is ${info!.kind}, not committed`);
      if (info!.parent !== committed.parent) fail(`${key} has parent ${info!.parent}, not ${committed.parent}`);
      if (!committed.labels.some((labels) => JSON.stringify(labels) === JSON.stringify(info!.labels))) {
        fail(`${key} has labels ${JSON.stringify(info!.labels)}, not one of ${JSON.stringify(committed.labels)}`);
      }
      committed.labels = [info!.labels];
      const layer = await this.store.mount(key);
      const files = await readFiles(layer);
      const want = [...committed.files].map(([path, bytes]) => `${path}=${sha(bytes)}`).sort();
      const got = [...files].map(([path, bytes]) => `${path}=${sha(bytes)}`).sort();
      if (JSON.stringify(got) !== JSON.stringify(want)) fail(`committed ${key} holds ${got.join(' ')}, not ${want.join(' ')}`);
    }
    this.layers = new Map();
    for (const [key, active] of [...m.active]) {
      const info = found.get(key);
      if (info === undefined) {
        if (active.durable) fail(`active snapshot ${key}, in the catalog since an acknowledged save, is missing`);
        m.active.delete(key);
        continue;
      }
      if (info.kind !== 'active') fail(`${key} is ${info.kind}, not active`);
      const layer = await this.store.mount(key);
      const files = await readFiles(layer);
      for (const [path, file] of active.files) {
        const bytes = files.get(path);
        if (bytes === undefined) {
          if (file.durable) fail(`${key}:${path}, durable, is missing`);
          active.files.delete(path);
          continue;
        }
        if (!file.versions.includes(sha(bytes))) fail(`${key}:${path} holds content that was never acknowledged or written there (${bytes.length} bytes)`);
        file.versions = [sha(bytes)];
        file.bytes = bytes;
        file.durable = true;
      }
      for (const path of files.keys()) if (!active.files.has(path)) fail(`${key}:${path} exists but was never written`);
      active.durable = true;
      this.layers.set(key, layer);
    }
    for (const key of found.keys()) if (!m.committed.has(key) && !m.active.has(key)) fail(`snapshot ${key} exists but was never made`);
  }
}

async function readFiles(layer: Layer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of await layer.readdir('/')) files.set(`/${name}`, await layer.readFile(`/${name}`));
  return files;
}

async function runSeed(seed: number): Promise<void> {
  const dir = await dirs.make('cowstack-powerloss-');
  const fs = new FaultyFileSystem();
  fs.trackDurability(dir);
  const work = new Workload(seed);
  const random = mulberry32(seed);
  const open = (): Promise<Store> => openDisk(dir, { fileSystem: fs, packTarget: PACK_TARGET });
  /** The last crash took the power too: what is on disk now is durable. */
  let powerLost = true;
  let crashes = 0;
  const crashNow = (): void => {
    powerLost = random() < 0.75;
    if (powerLost) work.log.push(`---- power loss:\n${fs.crash(seed * 1000 + crashes)}`);
    else work.log.push('---- process killed (no power loss)');
    crashes++;
    fs.resume();
  };
  for (let cycle = 0; cycle <= CRASHES; cycle++) {
    const context = `seed ${seed}, after crash ${crashes}`;
    // Sometimes the process dies again while the open recovers (truncating, fsyncing, setting aside).
    let opened = false;
    while (cycle > 0 && random() < 0.3) {
      fs.haltAt(1 + Math.floor(random() * 6));
      try {
        work.store = await open();
        fs.resume();
        opened = true;
        break;
      } catch (error) {
        if (!fs.halted) throw new Error(`${context}: the store does not open: ${(error as Error).message}\nlast steps:\n${work.log.slice(-15).join('\n')}`, { cause: error });
        work.log.push('---- died while opening');
        fs.halt();
        crashNow();
      }
    }
    try {
      if (!opened) work.store = await open();
    } catch (error) {
      throw new Error(`${context}: the store does not open: ${(error as Error).message}\nlast steps:\n${work.log.slice(-15).join('\n')}`, { cause: error });
    }
    try {
      await work.verify(context, !powerLost);
    } catch (error) {
      await work.store.close().catch(() => undefined);
      throw error;
    }
    if (cycle === CRASHES) {
      await work.store.close();
      return;
    }
    work.log.push(`---- cycle ${cycle + 1} (seed ${seed})`);
    fs.haltAt(1 + Math.floor(random() * 150));
    for (let steps = 0; steps < 60; steps++) {
      const result = await work.step();
      if (result === 'closed') {
        if (fs.halted) break;
        try {
          work.store = await open();
        } catch (error) {
          if (fs.halted) break;
          throw error;
        }
        await work.verify(`${context}, clean reopen`, false);
        continue;
      }
      if (result === 'died') break;
    }
    fs.halt();
    await work.store.close().catch(() => undefined);
    crashNow();
  }
}

describe('power loss at random points of a random workload', () => {
  const seeds = ONE_SEED === undefined ? [...Array(SEEDS).keys()].map((i) => i + 1) : [Number(ONE_SEED)];
  it(`keeps every acknowledged commit, sync, remove and label update (${seeds.length} seeds × ${CRASHES} crashes)`, { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    for (const seed of seeds) {
      try {
        await runSeed(seed);
      } catch (error) {
        failures.push((error as Error).message);
      }
      await dirs.removeAll();
    }
    expect(failures.slice(0, 3).join('\n\n========\n\n')).toBe('');
    expect(failures).toEqual([]);
  });
});

describe('recovery makes what it adopts durable', () => {
  it('a commit acknowledged after a restart survives a power loss, though it shares blocks the dead process wrote and never fsynced', async () => {
    const dir = await dirs.make('cowstack-powerloss-');
    const fs = new FaultyFileSystem();
    fs.trackDurability(dir);
    const options = { fileSystem: fs, packTarget: 8192 };
    const x = Buffer.concat([pseudoRandomBytes(BLOCK, 71), pseudoRandomBytes(BLOCK, 72)]);

    // Process A: a durable commit, then a file written (its blocks appended, not fsynced: the
    // pack is now past its target size), then A is killed. No power loss yet.
    const a = await openDisk(dir, options);
    const base = await a.prepare('w0');
    await base.writeFile('/base', 'base');
    await a.commit('c0', 'w0');
    await (await a.prepare('w1', 'c0')).writeFile('/x', x);
    fs.halt();
    await a.close().catch(() => undefined);
    fs.resume();

    // Process B: writes the same content (the blocks are found in the pack: nothing to append)
    // and commits; the commit resolves. Then the power goes.
    const b = await openDisk(dir, options);
    await (await b.prepare('w2', 'c0')).writeFile('/y', x);
    await b.commit('c2', 'w2');
    fs.halt();
    await b.close().catch(() => undefined);
    fs.crash('worst');
    fs.resume();

    const c = await openDisk(dir, options);
    try {
      const report = await c.check();
      expect(report.ok, `the acknowledged commit c2 lost data:\n${describeCheck(report)}`).toBe(true);
      expect(sha(await (await c.mount('c2')).readFile('/y'))).toBe(sha(x));
    } finally {
      await c.close();
    }
  });

  it('what an open shows survives a power loss right after it: a catalog renamed into place by a process killed before its directory fsync', async () => {
    const dir = await dirs.make('cowstack-powerloss-');
    const fs = new FaultyFileSystem();
    fs.trackDurability(dir);
    const a = await openDisk(dir, { fileSystem: fs });
    const w0 = await a.prepare('w0');
    await w0.writeFile('/f', 'zero');
    await a.commit('c0', 'w0');
    const w1 = await a.prepare('w1', 'c0');
    await w1.writeFile('/f', 'one');
    // A dies between the rename of the new catalog and the fsync of the store directory.
    let renamed = false;
    fs.haltAt((op) => {
      if (op.kind === 'rename' && op.to === `${dir}/catalog`) renamed = true;
      return renamed && op.kind === 'syncDir';
    });
    expect((await rejection(a.commit('c1', 'w1'))).code).toBe('EIO');
    await a.close().catch(() => undefined);
    fs.resume();

    // B opens and shows c1 (a reader could have exported it, a client built on it)...
    const b = await openDisk(dir, { fileSystem: fs });
    expect(await snapshotKeys(b)).toEqual(['c0', 'c1']);
    expect(await (await b.mount('c1')).readFile('/f', 'utf8')).toBe('one');
    // ...then the power goes before B changed anything.
    fs.halt();
    await b.close().catch(() => undefined);
    fs.crash('worst');
    fs.resume();

    const c = await openDisk(dir, { fileSystem: fs });
    try {
      expect(await snapshotKeys(c), 'c1, shown by the previous open, vanished').toEqual(['c0', 'c1']);
    } finally {
      await c.close();
    }
  });
});

describe('FaultyFileSystem power loss', () => {
  it('drops what was never fsynced and undoes names never made durable, and keeps what was', async () => {
    const dir = await dirs.make('cowstack-powerloss-');
    const fs = new FaultyFileSystem();
    fs.trackDurability(dir);
    const durable = await fs.open(`${dir}/durable`, 'wx');
    await durable.write(Buffer.from('kept'), 0, 4, 0);
    await durable.sync();
    await durable.close();
    await fs.syncDir(dir);
    const volatile = await fs.open(`${dir}/durable`, 'r+');
    await volatile.write(Buffer.from('LOST'), 0, 4, 0);
    await volatile.close();
    const fresh = await fs.open(`${dir}/fresh`, 'wx');
    await fresh.write(Buffer.from('fresh'), 0, 5, 0);
    await fresh.sync();
    await fresh.close();
    await fs.rename(`${dir}/durable`, `${dir}/renamed`);
    fs.crash('worst');
    expect((await readdir(dir)).sort()).toEqual(['durable']);
    expect(await readFile(`${dir}/durable`, 'utf8')).toBe('kept');
  });
});
