import { createHash } from 'node:crypto';
import { appendFile, copyFile, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { recoverDiskStore } from '../../src/store/disk/recoverCatalog.js';
import {
  BLOCK, TempDirs, describeCheck, fileHashes, openDisk, packFiles, pseudoRandomBytes, rejection, scanPack, sha, snapshotKeys,
} from './helpers.js';

/**
 * A lost or damaged catalog (the one file naming every snapshot's tree): opening refuses the
 * store, changing nothing, instead of opening it empty (whose next gc would free every block);
 * `recoverDiskStore` (`cowstack recover`) names every tree left in the packs again. The on-disk
 * formats are read as design.md ("On-disk format") documents them.
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

const A = pseudoRandomBytes(3 * BLOCK + 100, 1);
const B = pseudoRandomBytes(2 * BLOCK, 2);
const A2 = pseudoRandomBytes(5 * BLOCK, 3);
const C = pseudoRandomBytes(BLOCK + 1, 4);
const V = pseudoRandomBytes(6 * BLOCK, 5);
const LABEL = 'cowstack.recovered.tree';

/**
 * A store with committed snapshots on one another and beside, one of them with a symbolic link
 * and a mode; an active snapshot synced twice (two generations of its tree); and a removed one.
 */
async function makeStore(): Promise<string> {
  const dir = await dirs.make();
  const store = await openDisk(dir);
  try {
    const base = await store.prepare('w-base');
    await base.writeFile('/a', A);
    await base.writeFile('/b', B, { mode: 0o600 });
    await base.mkdir('/etc');
    await base.symlink('/a', '/etc/link');
    await store.commit('base', 'w-base');
    const child = await store.prepare('w-child', 'base');
    await child.writeFile('/a', A2);
    await child.writeFile('/etc/c', C);
    await store.commit('child', 'w-child');
    const other = await store.prepare('w-other');
    await other.writeFile('/v', V);
    await store.commit('other', 'w-other');
    const active = await store.prepare('active', 'child');
    await active.writeFile('/gen', 'first');
    await active.sync();
    await active.writeFile('/gen', 'second');
    await active.sync();
    const gone = await store.prepare('w-gone');
    await gone.writeFile('/gone', 'removed before the loss');
    await store.commit('gone', 'w-gone');
    await store.remove('gone');
  } finally {
    await store.close();
  }
  return dir;
}

/** Every file under `dir` (relative path → SHA-256 of its bytes): what "nothing changed on disk" compares. */
async function diskState(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (path: string): Promise<void> => {
    for (const name of (await readdir(path)).sort()) {
      const full = join(path, name);
      if ((await stat(full)).isDirectory()) await visit(full);
      else out[relative(dir, full)] = sha(await readFile(full));
    }
  };
  await visit(dir);
  return out;
}

/** The catalog's snapshots, read as its format says: "CWCT" u32 version u32 length json u32 crc32. */
async function catalogTrees(dir: string): Promise<Record<string, string>> {
  const bytes = await readFile(join(dir, 'catalog'));
  expect(bytes.toString('latin1', 0, 4)).toBe('CWCT');
  const json = JSON.parse(bytes.toString('utf8', 12, 12 + bytes.readUInt32LE(8))) as { snapshots: { key: string; tree: string }[] };
  return Object.fromEntries(json.snapshots.map((entry) => [entry.key, entry.tree]));
}

/** Node records (kind 2) in the packs, and how many are tree records (first payload byte `T`). */
async function countNodes(dir: string): Promise<{ nodes: number; trees: number }> {
  let nodes = 0;
  let trees = 0;
  for (const pack of await packFiles(dir)) {
    const bytes = await readFile(pack);
    for (const record of await scanPack(pack)) {
      if (record.kind !== 2) continue;
      nodes++;
      if (bytes[record.payloadAt] === 0x54) trees++;
    }
  }
  return { nodes, trees };
}

/** Content of every snapshot by key. */
async function contents(store: Store): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const key of await snapshotKeys(store)) out[key] = await fileHashes(await store.mount(key));
  return out;
}

/** Recovered snapshots by the tree id their label names. */
async function byTree(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const info of store.walk()) {
    const tree = info.labels[LABEL];
    expect(tree, info.key).toMatch(/^[0-9a-f]{64}$/);
    expect(info.key).toBe(`recovered-${tree!.slice(0, 12)}`);
    expect(info.kind).toBe('committed');
    expect(info.parent).toBeUndefined();
    out.set(tree!, info.key);
  }
  return out;
}

describe('a new store', () => {
  it('has a catalog at once, before anything is stored, and an empty one reopens', async () => {
    const dir = await dirs.make();
    const store = await openDisk(dir);
    try {
      expect(await catalogTrees(dir)).toEqual({});
      expect(await packFiles(dir)).toEqual([]);
    } finally {
      await store.close();
    }
    const again = await openDisk(dir, { readOnly: true });
    await again.close();
  });

  it('killed between writing its config and its catalog (no catalog, no node) opens empty, and the writable open writes the catalog', async () => {
    const template = await dirs.make();
    await (await openDisk(template)).close();
    for (const leftover of [[], ['catalog.tmp']]) {
      const dir = await dirs.make();
      await copyFile(join(template, 'config'), join(dir, 'config'));
      for (const name of leftover) await writeFile(join(dir, name), 'torn');
      const readOnly = await openDisk(dir, { readOnly: true });
      try {
        expect(await snapshotKeys(readOnly)).toEqual([]);
      } finally {
        await readOnly.close();
      }
      expect(await readdir(dir)).not.toContain('catalog');
      const store = await openDisk(dir);
      try {
        expect(await readdir(dir)).toContain('catalog');
        const work = await store.prepare('w');
        await work.writeFile('/f', C);
        await store.commit('f', 'w');
      } finally {
        await store.close();
      }
      const reopened = await openDisk(dir);
      try {
        expect(await snapshotKeys(reopened)).toEqual(['f']);
      } finally {
        await reopened.close();
      }
    }
  });

  it('whose catalog was deleted before it stored any tree node opens empty', async () => {
    const dir = await dirs.make();
    await (await openDisk(dir)).close();
    await unlink(join(dir, 'catalog'));
    const store = await openDisk(dir);
    try {
      expect(await snapshotKeys(store)).toEqual([]);
    } finally {
      await store.close();
    }
    expect(await catalogTrees(dir)).toEqual({});
  });
});

describe('a deleted catalog', () => {
  it('makes opening (writable or read-only) reject with EINTEGRITY naming what the packs hold, and changes nothing on disk, a torn pack tail included', async () => {
    const dir = await makeStore();
    await unlink(join(dir, 'catalog'));
    const packs = await packFiles(dir);
    // A torn tail, which a writable open would cut off: here it must stay.
    await appendFile(packs.at(-1)!, Buffer.from('CWRC torn record'));
    const { nodes, trees } = await countNodes(dir);
    expect(trees).toBeGreaterThanOrEqual(5);
    const before = await diskState(dir);
    for (const readOnly of [false, true]) {
      const error = await rejection(openDisk(dir, { readOnly })) as Error & { code?: string; syscall?: string; path?: string };
      expect(error.code).toBe('EINTEGRITY');
      expect(error.syscall).toBe('open');
      expect(error.path).toBe(dir);
      expect(error.message).toMatch(/catalog is missing/);
      expect(error.message).toContain(`${nodes} tree node(s) and ${trees} snapshot tree(s)`);
      expect(error.message).toContain('cowstack recover');
      expect(await diskState(dir)).toEqual(before);
    }
    // Refused again and again, never opened empty by a later attempt.
    expect((await rejection(openDisk(dir))).code).toBe('EINTEGRITY');
    expect(await diskState(dir)).toEqual(before);
  });

  it('is recovered: every tree the catalog named comes back byte for byte, with earlier generations, and gc then frees nothing they reference', async () => {
    const dir = await makeStore();
    const named = await catalogTrees(dir);
    const original = await openDisk(dir, { readOnly: true });
    const want = await contents(original);
    await original.close();
    expect(Object.keys(named).sort()).toEqual(['active', 'base', 'child', 'other']);
    await unlink(join(dir, 'catalog'));
    const { trees } = await countNodes(dir);

    const report = await recoverDiskStore({ dir });
    expect(report.catalog).toBe('missing');
    expect(report.keptAs).toBeUndefined();
    expect(report.skipped).toEqual([]);
    expect(report.nodesUnreadable).toBe(0);
    expect(report.recovered).toHaveLength(trees);

    let recovered = new Map<string, string>();
    const store = await openDisk(dir);
    try {
      recovered = await byTree(store);
      expect([...recovered.keys()].sort()).toEqual(report.recovered.map((item) => item.tree).sort());
      const got = await contents(store);
      // Each snapshot's own tree (same Merkle root: the same tree, byte for byte), same content.
      for (const [key, tree] of Object.entries(named)) {
        const back = recovered.get(tree);
        expect(back, `${key}'s tree ${tree}`).toBeDefined();
        expect(got[back!], key).toEqual(want[key]);
      }
      // The active snapshot's first synced generation comes back too, and so does the removed one.
      const gens = Object.values(got).map((files) => files['/gen']);
      expect(gens).toContain(sha(Buffer.from('first')));
      expect(gens).toContain(sha(Buffer.from('second')));
      expect(Object.values(got).some((files) => files['/gone'] !== undefined)).toBe(true);

      const blocks = (await store.stats()).blocks;
      const collected = await store.gc();
      expect(collected.blocksRemoved).toBe(0);
      expect((await store.stats()).blocks).toBe(blocks);
      expect(await contents(store)).toEqual(got);
      const check = await store.check();
      expect(check.ok, describeCheck(check)).toBe(true);
    } finally {
      await store.close();
    }
    const reopened = await openDisk(dir);
    try {
      expect(await byTree(reopened)).toEqual(recovered);
    } finally {
      await reopened.close();
    }
  });

  it('leaves out a tree that does not decode, reporting it and the unreadable node, and recovers the others', async () => {
    const dir = await makeStore();
    const named = await catalogTrees(dir);
    await unlink(join(dir, 'catalog'));
    // Damage the block-vector node of /v (only 'other' has it): the id of V's first block is in it.
    const firstBlock = createHash('sha256').update(V.subarray(0, BLOCK)).digest();
    let damaged = 0;
    for (const pack of await packFiles(dir)) {
      const bytes = await readFile(pack);
      for (const record of await scanPack(pack)) {
        const payload = bytes.subarray(record.payloadAt, record.payloadAt + record.length);
        if (record.kind !== 2 || payload[0] !== 0x56 || payload.indexOf(firstBlock) < 0) continue;
        bytes[record.payloadAt + record.length - 1]! ^= 0xff;
        damaged++;
      }
      await writeFile(pack, bytes);
    }
    expect(damaged).toBe(1);

    const report = await recoverDiskStore({ dir });
    expect(report.nodesUnreadable).toBe(1);
    expect(report.skipped.map((item) => item.tree)).toContain(named.other);
    for (const item of report.skipped) expect(item.error).toMatch(/^EINTEGRITY/);
    const store = await openDisk(dir);
    try {
      const recovered = await byTree(store);
      expect(recovered.has(named.other!)).toBe(false);
      for (const key of ['base', 'child', 'active']) expect(recovered.has(named[key]!), key).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('a damaged catalog', () => {
  it('is kept as catalog.damaged (then catalog.damaged.2), never deleted, and recover names the trees again', async () => {
    const dir = await makeStore();
    const named = await catalogTrees(dir);
    const garbled = await readFile(join(dir, 'catalog'));
    garbled[20]! ^= 0x41;
    await writeFile(join(dir, 'catalog'), garbled);
    const error = await rejection(openDisk(dir));
    expect(error.code).toBe('EINTEGRITY');
    expect(error.message).toContain('cowstack recover');

    const report = await recoverDiskStore({ dir });
    expect(report.catalog).toBe('damaged');
    expect(report.keptAs).toBe('catalog.damaged');
    expect(await readFile(join(dir, 'catalog.damaged'))).toEqual(garbled);
    const store = await openDisk(dir);
    try {
      const recovered = await byTree(store);
      for (const tree of Object.values(named)) expect(recovered.has(tree)).toBe(true);
    } finally {
      await store.close();
    }

    await writeFile(join(dir, 'catalog'), 'not a catalog');
    const again = await recoverDiskStore({ dir });
    expect(again.keptAs).toBe('catalog.damaged.2');
    expect(await readFile(join(dir, 'catalog.damaged'))).toEqual(garbled);
    expect(await readFile(join(dir, 'catalog.damaged.2'), 'utf8')).toBe('not a catalog');
    expect(again.recovered.map((item) => item.key).sort()).toEqual(report.recovered.map((item) => item.key).sort());
  });
});

describe('recoverDiskStore', () => {
  it('refuses a sound catalog (EEXIST), a directory without a store (ENOENT) and a store a writer has open (ELOCKED), changing nothing', async () => {
    const dir = await makeStore();
    const before = await diskState(dir);
    expect((await rejection(recoverDiskStore({ dir }))).code).toBe('EEXIST');
    expect(await diskState(dir)).toEqual(before);

    const empty = await dirs.make();
    expect((await rejection(recoverDiskStore({ dir: empty }))).code).toBe('ENOENT');
    expect(await readdir(empty)).toEqual([]);
    expect((await rejection(recoverDiskStore({ dir: join(empty, 'none') }))).code).toBe('ENOENT');

    const writer = await openDisk(empty);
    try {
      await unlink(join(empty, 'catalog'));
      expect((await rejection(recoverDiskStore({ dir: empty }))).code).toBe('ELOCKED');
      expect(await readdir(empty)).not.toContain('catalog');
    } finally {
      await writer.close();
    }
  });
});
