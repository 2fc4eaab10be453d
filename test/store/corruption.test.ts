import { readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { FaultyFileSystem } from '../support/FaultyFileSystem.js';
import {
  BLOCK, RECORD_HEADER_BYTES, TempDirs, describeCheck, fileHashes, findRecord, openDisk, packFiles, pseudoRandomBytes, rejection, scanPack, sha,
  snapshotKeys,
} from './helpers.js';

/**
 * Damage done to a closed store's files, and what opening, reading and `check()` make of it:
 * a flipped byte in a stored block, a pack cut short, a lost or garbled index, a lost or garbled
 * catalog. The pack format is read as src/store/disk/packFormat.ts documents it.
 */
const dirs = new TempDirs();
afterEach(() => dirs.removeAll());

/** Files of the fixture store: two committed snapshots with files of a few blocks. */
const A = pseudoRandomBytes(3 * BLOCK + 100, 1);
const B = pseudoRandomBytes(2 * BLOCK, 2);
const C = pseudoRandomBytes(BLOCK + 1, 3);

async function makeStore(options: { packTarget?: number } = {}): Promise<string> {
  const dir = await dirs.make();
  const store = await openDisk(dir, options);
  const base = await store.prepare('work-base');
  await base.writeFile('/a', A);
  await base.writeFile('/b', B);
  await store.commit('base', 'work-base');
  const other = await store.prepare('work-other');
  await other.writeFile('/c', C);
  await store.commit('other', 'work-other');
  await store.close();
  return dir;
}

async function expectIntact(store: Store, key: string, files: Record<string, Buffer>): Promise<void> {
  const layer = await store.mount(key);
  const want = Object.fromEntries(Object.entries(files).map(([path, bytes]) => [path, sha(bytes)]));
  expect(await fileHashes(layer)).toEqual(want);
}

/** `EINTEGRITY` when mounting or listing the snapshot rejects so; else what its root lists. */
async function mountAndList(store: Store, key: string): Promise<string> {
  try {
    const layer = await store.mount(key);
    return JSON.stringify(await layer.readdir('/'));
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Flips one byte of the payload of the record with id `id`; with `fixCrc`, rewrites the CRC to match (damage the CRC cannot see). */
async function flipByteOf(dir: string, id: string, fixCrc = false): Promise<void> {
  const found = await findRecord(dir, id);
  if (found === undefined) throw new Error(`record ${id} not found in any pack`);
  const bytes = await readFile(found.pack);
  const { record } = found;
  bytes[record.payloadAt + Math.floor(record.length / 2)]! ^= 0x20;
  if (fixCrc) {
    const crc = crc32(bytes.subarray(record.payloadAt, record.payloadAt + record.length), crc32(bytes.subarray(record.offset, record.offset + 44)));
    bytes.writeUInt32LE(crc, record.offset + 44);
  }
  await writeFile(found.pack, bytes);
}

describe('a flipped byte inside a stored block', () => {
  const damagedBlock = A.subarray(BLOCK, 2 * BLOCK); // block 1 of /a in snapshot 'base'

  for (const verifyReads of [true, false]) {
    it(`rejects reading that file with EINTEGRITY (verifyReads: ${verifyReads}), reads everything else, and check() names key and path`, async () => {
      const dir = await makeStore();
      await flipByteOf(dir, sha(damagedBlock));
      const store = await openDisk(dir, { verifyReads });
      try {
        const base = await store.mount('base');
        const error = await rejection(base.readFile('/a'));
        expect(error.code).toBe('EINTEGRITY');
        // The blocks around the damaged one still read, through a handle.
        const handle = await base.open('/a', 'r');
        const first = Buffer.alloc(BLOCK);
        expect((await handle.read(first, 0, BLOCK, 0)).bytesRead).toBe(BLOCK);
        expect(first.equals(A.subarray(0, BLOCK))).toBe(true);
        expect((await rejection(handle.read(Buffer.alloc(BLOCK), 0, BLOCK, BLOCK))).code).toBe('EINTEGRITY');
        await handle.close();
        expect(sha(await base.readFile('/b'))).toBe(sha(B));
        await expectIntact(store, 'other', { '/c': C });

        const report = await store.check();
        expect(report.ok).toBe(false);
        expect(report.problems.some((p) => p.key === 'base' && p.path === '/a' && p.code === 'EINTEGRITY')).toBe(true);
        expect(report.problems.filter((p) => p.key !== undefined && (p.key !== 'base' || p.path !== '/a'))).toEqual([]);
      } finally {
        await store.close();
      }
    });
  }

  it('is caught by the hash when the CRC was made to match (verifyReads default), and check() finds it whatever verifyReads is', async () => {
    const dir = await makeStore();
    await flipByteOf(dir, sha(damagedBlock), true);
    const store = await openDisk(dir);
    try {
      expect((await rejection((await store.mount('base')).readFile('/a'))).code).toBe('EINTEGRITY');
      const report = await store.check();
      expect(report.problems.some((p) => p.key === 'base' && p.path === '/a')).toBe(true);
    } finally {
      await store.close();
    }
    const unverified = await openDisk(dir, { verifyReads: false });
    try {
      const report = await unverified.check();
      expect(report.ok).toBe(false);
      expect(report.problems.some((p) => p.key === 'base' && p.path === '/a')).toBe(true);
    } finally {
      await unverified.close();
    }
  });

  it('damages only that record, even when the index is lost and the packs are scanned again', async () => {
    // One damaged record in the middle of a pack is not a torn tail: the records after it are
    // whole, acknowledged data, and a rebuild of the index must not cut them off.
    const dir = await makeStore();
    await flipByteOf(dir, sha(damagedBlock));
    const pack = (await findRecord(dir, sha(damagedBlock)))!.pack;
    const sizeBefore = (await stat(pack)).size;
    await unlink(join(dir, 'index'));
    const store = await openDisk(dir);
    try {
      const report = await store.check();
      expect(report.problems.filter((p) => !(p.key === 'base' && p.path === '/a')).map((p) => `${p.key} ${p.path ?? ''}: ${p.message}`)).toEqual([]);
      await expectIntact(store, 'other', { '/c': C });
      expect(sha(await (await store.mount('base')).readFile('/b'))).toBe(sha(B));
    } finally {
      await store.close();
    }
    expect((await stat(pack)).size).toBe(sizeBefore);
  });
});

describe('a garbled record header', () => {
  it('with a length field made larger damages only that record when the packs are scanned again', async () => {
    // A flipped bit in a record's length (still a plausible length) must not make the scan skip
    // the whole records that follow it.
    const dir = await makeStore();
    const found = (await findRecord(dir, sha(A.subarray(0, BLOCK))))!;
    const bytes = await readFile(found.pack);
    bytes.writeUInt32LE(bytes.readUInt32LE(found.record.offset + 8) + 3 * (BLOCK + RECORD_HEADER_BYTES), found.record.offset + 8);
    await writeFile(found.pack, bytes);
    await unlink(join(dir, 'index'));
    const store = await openDisk(dir);
    try {
      const report = await store.check();
      expect(report.problems.filter((p) => !(p.key === 'base' && p.path === '/a')).map((p) => `${p.key} ${p.path ?? ''}: ${p.message}`)).toEqual([]);
      await expectIntact(store, 'other', { '/c': C });
      expect(sha(await (await store.mount('base')).readFile('/b'))).toBe(sha(B));
    } finally {
      await store.close();
    }
  });

  it('with its magic garbled damages only that record when the packs are scanned again', async () => {
    const dir = await makeStore();
    const found = (await findRecord(dir, sha(A.subarray(BLOCK, 2 * BLOCK))))!;
    const bytes = await readFile(found.pack);
    bytes[found.record.offset]! ^= 0x01;
    await writeFile(found.pack, bytes);
    await unlink(join(dir, 'index'));
    const store = await openDisk(dir);
    try {
      const report = await store.check();
      expect(report.problems.filter((p) => !(p.key === 'base' && p.path === '/a')).map((p) => `${p.key} ${p.path ?? ''}: ${p.message}`)).toEqual([]);
      await expectIntact(store, 'other', { '/c': C });
    } finally {
      await store.close();
    }
  });
});

describe('a pack cut short', () => {
  it('loses only what was in the cut part: the last pack, with the tree of the last commit', async () => {
    const dir = await makeStore();
    const store = await openDisk(dir);
    const work = await store.prepare('work-late');
    const late = pseudoRandomBytes(2 * BLOCK, 9);
    await work.writeFile('/late', late);
    await store.commit('late', 'work-late');
    await store.close();

    const packs = await packFiles(dir);
    const last = packs[packs.length - 1]!;
    const records = await scanPack(last);
    const lateBlock = records.find((r) => r.id === sha(late.subarray(0, BLOCK)));
    expect(lateBlock).toBeDefined();
    // Cut in the middle of the first record of 'late': that record and every one after it go.
    await truncate(last, lateBlock!.offset + RECORD_HEADER_BYTES + 100);

    const reopened = await openDisk(dir);
    try {
      expect(await snapshotKeys(reopened)).toEqual(['base', 'late', 'other']);
      await expectIntact(reopened, 'base', { '/a': A, '/b': B });
      await expectIntact(reopened, 'other', { '/c': C });
      const report = await reopened.check();
      expect(report.ok).toBe(false);
      expect(report.problems.length).toBeGreaterThan(0);
      expect(report.problems.every((p) => p.key === 'late')).toBe(true);
      // The torn tail is cut at the last whole record.
      expect((await stat(last)).size).toBe(lateBlock!.offset);
      // The store still takes writes.
      const next = await reopened.prepare('work-next', 'base');
      await next.writeFile('/n', 'after recovery');
      await reopened.commit('next', 'work-next');
    } finally {
      await reopened.close();
    }
    const again = await openDisk(dir);
    try {
      expect((await (await again.mount('next')).readFile('/n')).toString()).toBe('after recovery');
      await expectIntact(again, 'base', { '/a': A, '/b': B });
      expect((await again.check()).problems.every((p) => p.key === 'late')).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('never shows a snapshot whose tree was cut off as an empty tree: mounting or reading it rejects with EINTEGRITY', async () => {
    const dir = await makeStore();
    const packs = await packFiles(dir);
    const last = packs[packs.length - 1]!;
    const records = await scanPack(last);
    // The last record of the pack is the root of the last committed tree ('other').
    await truncate(last, records[records.length - 1]!.offset + 5);
    const reopened = await openDisk(dir);
    try {
      expect((await reopened.check()).problems.map((p) => p.key)).toEqual(['other']);
      expect(await mountAndList(reopened, 'other')).toBe('EINTEGRITY');
      expect((await rejection(reopened.usage('other'))).code).toBe('EINTEGRITY');
    } finally {
      await reopened.close();
    }
  });

  it('keeps, through gc, the blocks of a snapshot whose tree cannot be read (gc must not make damage permanent)', async () => {
    // The catalog keeps every tree node while a snapshot is damaged; its data blocks must be kept
    // too: a tree lost to a cut pack or a transient read error may be repaired, its blocks not.
    const dir = await makeStore();
    const packs = await packFiles(dir);
    const last = packs[packs.length - 1]!;
    const records = await scanPack(last);
    await truncate(last, records[records.length - 1]!.offset + 5); // the root of 'other''s tree
    const store = await openDisk(dir);
    try {
      const before = await store.stats();
      const report = await store.gc();
      expect(report).toEqual({ blocksRemoved: 0, bytesFreed: 0 });
      expect(await store.stats()).toEqual(before);
    } finally {
      await store.close();
    }
    expect(await findRecord(dir, sha(C.subarray(0, BLOCK)))).toBeDefined();
  });

  it('loses only the blocks in the cut part of an older pack, and check() names the file', async () => {
    const dir = await makeStore({ packTarget: 64 << 10 });
    const store = await openDisk(dir, { packTarget: 64 << 10 });
    const work = await store.prepare('work-big');
    const big = pseudoRandomBytes(48 * BLOCK, 10);
    await work.writeFile('/small', 'small file');
    await work.writeFile('/big', big);
    await store.commit('big', 'work-big');
    await store.close();

    const target = sha(big.subarray(24 * BLOCK, 25 * BLOCK));
    const found = (await findRecord(dir, target))!;
    const packs = await packFiles(dir);
    expect(found.pack).not.toBe(packs[packs.length - 1]);
    await truncate(found.pack, found.record.offset + 10);

    const reopened = await openDisk(dir, { packTarget: 64 << 10 });
    try {
      await expectIntact(reopened, 'base', { '/a': A, '/b': B });
      await expectIntact(reopened, 'other', { '/c': C });
      const layer = await reopened.mount('big');
      expect(await layer.readFile('/small', 'utf8')).toBe('small file');
      expect((await rejection(layer.readFile('/big'))).code).toBe('EINTEGRITY');
      const report = await reopened.check();
      expect(report.ok).toBe(false);
      expect(report.problems.length).toBeGreaterThan(0);
      for (const problem of report.problems) expect({ key: problem.key, path: problem.path }).toEqual({ key: 'big', path: '/big' });
    } finally {
      await reopened.close();
    }
  });
});

describe('the index file', () => {
  it('is rebuilt from the packs when it is deleted, and everything reads', async () => {
    const dir = await makeStore({ packTarget: 16 << 10 });
    const before = await openDisk(dir, { readOnly: true });
    const stats = await before.stats();
    await before.close();
    await unlink(join(dir, 'index'));
    const store = await openDisk(dir, { packTarget: 16 << 10 });
    try {
      expect(await store.stats()).toEqual(stats);
      await expectIntact(store, 'base', { '/a': A, '/b': B });
      await expectIntact(store, 'other', { '/c': C });
      expect((await store.check()).ok).toBe(true);
    } finally {
      await store.close();
    }
    expect((await stat(join(dir, 'index'))).size).toBeGreaterThan(0);
  });

  it('is only a cache: a store whose index has any one byte garbled opens and reads', async () => {
    const dir = await makeStore();
    const original = await readFile(join(dir, 'index'));
    const positions = [...new Set([...Array(24).keys(), original.length - 4, original.length - 3, original.length - 2, original.length - 1, Math.floor(original.length / 2)])];
    const failures: string[] = [];
    for (const position of positions) {
      const garbled = Buffer.from(original);
      garbled[position]! ^= 0x41;
      await writeFile(join(dir, 'index'), garbled);
      try {
        const store = await openDisk(dir, { readOnly: true });
        try {
          await expectIntact(store, 'base', { '/a': A, '/b': B });
        } finally {
          await store.close();
        }
      } catch (error) {
        failures.push(`byte ${position}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('the catalog', () => {
  it('is the root: deleted, opening rejects with EINTEGRITY (never opens empty, so gc cannot free the orphaned data) and points to recover', async () => {
    // Nothing names the snapshots but the catalog: a store that lost it used to open empty, and
    // its next gc freed everything. Now a store has a catalog from its creation on, and packs
    // holding tree nodes without one are refused (test/store/catalogLoss.test.ts has the rest).
    const dir = await makeStore();
    await unlink(join(dir, 'catalog'));
    for (const readOnly of [false, true]) {
      const error = await rejection(openDisk(dir, { readOnly }));
      expect(error.code).toBe('EINTEGRITY');
      expect(error.message).toMatch(/catalog is missing/);
      expect(error.message).toMatch(/cowstack recover/);
    }
    expect((await readdir(dir)).sort()).toEqual(['config', 'index', 'packs']);
  });

  it('garbled at a byte (header, body, checksum), or cut short, or empty, makes open reject with EINTEGRITY pointing to recover, and leaves no lock behind', async () => {
    const dir = await makeStore();
    const path = join(dir, 'catalog');
    const original = await readFile(path);
    const variants: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['cut to 10 bytes', original.subarray(0, 10)],
      ['cut by one byte', original.subarray(0, original.length - 1)],
      ['one byte longer', Buffer.concat([original, Buffer.from([0])])],
    ];
    const json = [...Array(12).keys()].map((i) => 12 + Math.floor(((original.length - 16) * i) / 12));
    for (const position of [...Array(12).keys(), ...json, ...[4, 3, 2, 1].map((back) => original.length - back)]) {
      const garbled = Buffer.from(original);
      garbled[position]! ^= 0x41;
      variants.push([`byte ${position} garbled`, garbled]);
    }
    const wrong: string[] = [];
    for (const [name, bytes] of variants) {
      await writeFile(path, bytes);
      try {
        const store = await openDisk(dir);
        await store.close();
        wrong.push(`${name}: opened`);
      } catch (error) {
        const code = (error as { code?: string }).code;
        const message = (error as Error).message;
        if (code !== 'EINTEGRITY' || !message.includes('cowstack recover')) wrong.push(`${name}: ${code} ${message}`);
      }
    }
    await writeFile(path, original);
    const store = await openDisk(dir);
    try {
      await expectIntact(store, 'base', { '/a': A, '/b': B });
    } finally {
      await store.close();
    }
    expect(wrong).toEqual([]);
  });
});

describe('recovery at open', () => {
  it('sets aside a pack whose header rotted, and an acknowledged commit made after that survives a crash before the index is rewritten', async () => {
    const dir = await makeStore();
    const packs = await packFiles(dir);
    const first = packs[0]!;
    const bytes = await readFile(first);
    bytes[0]! ^= 0x01; // the pack magic
    await writeFile(first, bytes);

    const fs = new FaultyFileSystem();
    const store = await openDisk(dir, { fileSystem: fs });
    const fresh = pseudoRandomBytes(12 * BLOCK, 77);
    const work = await store.prepare('w-new');
    await work.writeFile('/n', fresh);
    await store.commit('new', 'w-new');
    // The process is killed now: nothing more reaches the disk (the index file is not rewritten).
    fs.halt();
    await store.close().catch(() => undefined);

    const reopened = await openDisk(dir);
    try {
      expect(sha(await (await reopened.mount('new')).readFile('/n'))).toBe(sha(fresh));
      const report = await reopened.check();
      expect(report.problems.filter((p) => p.key === 'new').map((p) => p.message)).toEqual([]);
    } finally {
      await reopened.close();
    }
    // The damaged pack was set aside, not deleted.
    expect((await readdir(join(dir, 'packs'))).some((name) => name.endsWith('.damaged'))).toBe(true);
  });

  it('opens a store whose newest pack was created but never written (killed right after creating it)', async () => {
    const dir = await makeStore();
    const packs = await packFiles(dir);
    const next = Number.parseInt(packs[packs.length - 1]!.slice(-13, -5), 16) + 1;
    await writeFile(join(dir, 'packs', `${next.toString(16).padStart(8, '0')}.pack`), Buffer.alloc(0));
    const store = await openDisk(dir);
    try {
      await expectIntact(store, 'base', { '/a': A, '/b': B });
      expect((await store.check()).ok).toBe(true);
      const work = await store.prepare('work-more');
      await work.writeFile('/more', pseudoRandomBytes(3 * BLOCK, 44));
      await store.commit('more', 'work-more');
    } finally {
      await store.close();
    }
  });

  it('opens a store whose newest pack has a torn header', async () => {
    const dir = await makeStore();
    const packs = await packFiles(dir);
    const next = Number.parseInt(packs[packs.length - 1]!.slice(-13, -5), 16) + 1;
    const header = Buffer.alloc(16);
    header.write('CWPK', 0, 'latin1');
    await writeFile(join(dir, 'packs', `${next.toString(16).padStart(8, '0')}.pack`), header.subarray(0, 7));
    const store = await openDisk(dir);
    try {
      await expectIntact(store, 'other', { '/c': C });
      expect((await store.check()).ok).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('a consistent store', () => {
  it('checks ok, and stays so across reopen', async () => {
    const dir = await makeStore();
    const store = await openDisk(dir);
    try {
      const report = await store.check();
      expect(report.ok, describeCheck(report)).toBe(true);
      expect(report.blocksChecked).toBe((await store.stats()).blocks);
    } finally {
      await store.close();
    }
  });
});
