import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import { hasCode } from '../../src/core/errors.js';
import { BlockIndex, INDEX_FORMAT_VERSION, type RecordLocation } from '../../src/store/disk/BlockIndex.js';
import { idArb, indexCommands, locationArb, optionsArb } from './blockIndex/commands.js';
import { byId, IndexModel } from './blockIndex/IndexModel.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** An index holding `entries` (later ones replace earlier ones of the same id). */
function indexOf(entries: readonly (readonly [BlockId, RecordLocation])[], options = {}): BlockIndex {
  const index = new BlockIndex(options);
  for (const [id, location] of entries) index.set(id, location);
  return index;
}

function codeOf(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).name;
  }
}

/** Recomputes the CRC trailer of an edited index file, so that only the edit is judged. */
function resealed(file: Uint8Array): Buffer {
  const out = Buffer.from(file);
  out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

const entriesArb = fc.array(fc.tuple(idArb, locationArb), { maxLength: 200 });

describe('BlockIndex', () => {
  it('agrees with a Map under any sequence of set, delete, deletePack, get, entries and reopen', () => {
    fc.assert(
      fc.property(optionsArb, indexCommands(60), (options, commands) => {
        fc.modelRun(() => ({ model: new IndexModel(), real: { index: new BlockIndex(options), options } }), commands);
      }),
      { numRuns: 300 },
    );
  });

  it('survives changes during iteration: no entry twice, none deleted before reached, every untouched one once', () => {
    const stepArb = fc.oneof(
      fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }),
      fc.record({ op: fc.constant('add' as const), id: idArb, location: locationArb }),
      fc.record({ op: fc.constant('move' as const), pick: fc.nat(), location: locationArb }),
    );
    fc.assert(
      fc.property(optionsArb, entriesArb, fc.array(fc.array(stepArb, { maxLength: 3 }), { maxLength: 150 }), (options, initial, steps) => {
        const index = indexOf(initial, options);
        const model = new Map(initial);
        const untouched = new Set(model.keys());
        const seen = new Set<BlockId>();
        let previous = '';
        let turn = 0;
        for (const [id, location] of index.entries()) {
          expect(seen.has(id)).toBe(false);
          expect(id > previous).toBe(true);
          expect(location).toEqual(model.get(id));
          seen.add(id);
          previous = id;
          for (const step of steps[turn++] ?? []) {
            const held = [...model.keys()];
            if (step.op === 'add') {
              untouched.delete(step.id);
              model.set(step.id, step.location);
              index.set(step.id, step.location);
            } else if (held.length > 0) {
              const target = held[step.pick % held.length]!;
              untouched.delete(target);
              if (step.op === 'delete') {
                model.delete(target);
                index.delete(target);
              } else {
                model.set(target, step.location);
                index.set(target, step.location);
              }
            }
          }
        }
        for (const id of untouched) expect(seen.has(id)).toBe(true);
        expect(index.size).toBe(model.size);
      }),
      { numRuns: 200 },
    );
  });

  it('round-trips through its file, byte for byte, and the copy answers alike', () => {
    fc.assert(
      fc.property(optionsArb, entriesArb, fc.array(fc.nat(), { maxLength: 20 }), (options, entries, deletions) => {
        const index = indexOf(entries, options);
        const model = new Map(entries);
        for (const pick of deletions) {
          const held = [...model.keys()];
          if (held.length === 0) break;
          const id = held[pick % held.length]!;
          model.delete(id);
          index.delete(id);
        }
        const file = index.encode();
        const copy = BlockIndex.decode(file);
        expect([...copy.entries()]).toEqual([...model].sort(byId));
        expect(Buffer.from(copy.encode()).equals(Buffer.from(file))).toBe(true);
        expect(file.length).toBe(16 + 44 * model.size);
      }),
      { numRuns: 200 },
    );
  });

  it('writes the documented format byte for byte', () => {
    const low = `00000001${'ab'.repeat(28)}` as BlockId;
    const high = `ff${'00'.repeat(31)}` as BlockId;
    const file = Buffer.from(
      indexOf([
        [high, { pack: 7, offset: 0x0102_0304, length: 0x7fff_ffff, kind: 'node' }],
        [low, { pack: 0xffff_ffff, offset: 0, length: 5, kind: 'block' }],
      ]).encode(),
    );
    const expected = Buffer.concat([
      Buffer.from('CWIX', 'latin1'),
      Buffer.from([1, 0, 0, 0]), // version 1, u32 LE
      Buffer.from([2, 0, 0, 0]), // count 2
      Buffer.from(low, 'hex'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 5, 0, 0, 0]), // pack, offset, length | block
      Buffer.from(high, 'hex'),
      Buffer.from([7, 0, 0, 0, 4, 3, 2, 1, 0xff, 0xff, 0xff, 0xff]), // pack, offset, length | node bit
    ]);
    expect(file.subarray(0, -4).equals(expected)).toBe(true);
    expect(file.readUInt32LE(file.length - 4)).toBe(crc32(expected));
    expect(Buffer.from(new BlockIndex().encode()).toString('hex')).toBe(`43574958${'01000000'}${'00000000'}${crc32(Buffer.from('4357495801000000' + '00000000', 'hex')).toString(16).padStart(8, '0').match(/../g)!.reverse().join('')}`);
  });

  it('rejects a file with any one byte changed with EINTEGRITY', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (entries, at, flip) => {
        const file = Buffer.from(indexOf(entries).encode());
        file[at % file.length]! ^= flip;
        expect(codeOf(() => BlockIndex.decode(file))).toBe('EINTEGRITY');
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a truncated or overlong file with EINTEGRITY', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), (entries, cut) => {
        const file = indexOf(entries).encode();
        expect(codeOf(() => BlockIndex.decode(file.subarray(0, cut % file.length)))).toBe('EINTEGRITY');
        expect(codeOf(() => BlockIndex.decode(Buffer.concat([file, Buffer.alloc(1 + (cut % 50))])))).toBe('EINTEGRITY');
      }),
      { numRuns: 100 },
    );
    const file = indexOf([[`${'11'.repeat(32)}` as BlockId, { pack: 1, offset: 2, length: 3, kind: 'block' }]]).encode();
    const lying = Buffer.from(file);
    lying.writeUInt32LE(2, 8); // count says 2, one entry follows
    expect(codeOf(() => BlockIndex.decode(resealed(lying)))).toBe('EINTEGRITY');
  });

  it('rejects a sound file whose entries are out of order or repeated with EINTEGRITY', () => {
    const a = `${'11'.repeat(32)}` as BlockId;
    const b = `${'22'.repeat(32)}` as BlockId;
    const file = Buffer.from(indexOf([[a, { pack: 1, offset: 0, length: 1, kind: 'block' }], [b, { pack: 2, offset: 0, length: 1, kind: 'block' }]]).encode());
    const swapped = Buffer.from(file);
    file.copy(swapped, 12, 56, 100);
    file.copy(swapped, 56, 12, 56);
    expect(codeOf(() => BlockIndex.decode(resealed(swapped)))).toBe('EINTEGRITY');
    const repeated = Buffer.from(file);
    file.copy(repeated, 56, 12, 44);
    expect(codeOf(() => BlockIndex.decode(resealed(repeated)))).toBe('EINTEGRITY');
  });

  it('rejects a sound file of a newer version with EINVAL, and version 0 with EINTEGRITY', () => {
    const newer = Buffer.from(new BlockIndex().encode());
    newer.writeUInt32LE(INDEX_FORMAT_VERSION + 1, 4);
    let error: unknown;
    try {
      BlockIndex.decode(resealed(newer));
    } catch (caught) {
      error = caught;
    }
    expect(hasCode(error, 'EINVAL')).toBe(true);
    expect((error as Error).message).toContain(`index format version ${INDEX_FORMAT_VERSION + 1} is newer than this cowstack knows (${INDEX_FORMAT_VERSION})`);
    const zero = Buffer.from(newer);
    zero.writeUInt32LE(0, 4);
    expect(codeOf(() => BlockIndex.decode(resealed(zero)))).toBe('EINTEGRITY');
  });

  it('decodes from a view into a larger buffer', () => {
    const file = indexOf([[`${'33'.repeat(32)}` as BlockId, { pack: 3, offset: 4, length: 5, kind: 'node' }]]).encode();
    const padded = new Uint8Array(file.length + 13);
    padded.set(file, 7);
    expect([...BlockIndex.decode(padded.subarray(7, 7 + file.length)).entries()]).toEqual([...BlockIndex.decode(file).entries()]);
  });

  it('gives memory back as entries are deleted, one by one or by pack', () => {
    const ids = Array.from({ length: 40_000 }, (_, i) => createHash('sha256').update(String(i)).digest('hex') as BlockId);
    for (const byPack of [false, true]) {
      const index = indexOf(ids.map((id, i) => [id, { pack: i % 20, offset: i, length: 1, kind: 'block' }] as const), { pendingMin: 64 });
      expect(index.memoryBytes() / index.size).toBeLessThanOrEqual(64);
      if (byPack) for (let pack = 1; pack < 20; pack++) index.deletePack(pack);
      else ids.forEach((id, i) => i % 20 !== 0 && index.delete(id));
      expect(index.size).toBe(2_000);
      expect(index.memoryBytes() / index.size).toBeLessThanOrEqual(64);
    }
  });

  it('holds a million entries in at most 64 bytes each', { timeout: 60_000 }, async () => {
    const out = await mkdtemp(join(tmpdir(), 'cowstack-index-'));
    try {
      const entry = await transpile(join(ROOT, 'src/store/disk/BlockIndex.ts'), out);
      const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', join(ROOT, 'test/store/blockIndex/memoryProbe.mjs'), entry, '1000000']);
      const probe = JSON.parse(stdout) as { size: number; found: number; memoryBytes: number; heapBytes: number; insertMs: number; lookupMs: number };
      const perEntry = probe.memoryBytes / probe.size;
      const heapPerEntry = probe.heapBytes / probe.size;
      console.log(`BlockIndex at ${probe.size} entries: ${perEntry.toFixed(2)} B/entry in typed arrays, ${heapPerEntry.toFixed(2)} B/entry of heap growth; ` +
        `${probe.size} inserts ${probe.insertMs.toFixed(0)} ms, ${probe.found} lookups ${probe.lookupMs.toFixed(0)} ms`);
      expect(probe.size).toBe(1_000_000);
      expect(probe.found).toBe(100_000);
      expect(perEntry).toBeLessThanOrEqual(64);
      expect(heapPerEntry).toBeLessThanOrEqual(64);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

/**
 * Transpiles `file` and the modules it imports by relative path into `out` (keeping their layout
 * under the repository root), so that a plain `node` child can run them; returns `file`'s output.
 */
async function transpile(file: string, out: string): Promise<string> {
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  const done = new Set<string>();
  const pending = [file];
  while (pending.length > 0) {
    const source = pending.pop()!;
    if (done.has(source)) continue;
    done.add(source);
    const text = await readFile(source, 'utf8');
    const { outputText } = ts.transpileModule(text, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const target = join(out, relative(ROOT, source)).replace(/\.ts$/, '.js');
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText);
    for (const [, spec] of outputText.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) pending.push(resolve(dirname(source), `${spec}.ts`));
  }
  return join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
}
