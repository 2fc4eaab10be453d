import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dirMapChanges, dirMapDelete, dirMapDirs, dirMapEntries, dirMapGet, dirMapSet, dirMapSize, type DirMap } from '../../src/core/DirMap.js';
import type { Entry } from '../../src/core/Entry.js';
import { EMPTY_VECTOR } from '../../src/core/BlockVector.js';

const file = (ino: number): Entry => ({ type: 'file', ino, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0, ctimeMs: 0, size: 0, blocks: EMPTY_VECTOR });
const dir = (ino: number): Entry => ({ type: 'dir', ino, mode: 0o755, uid: 0, gid: 0, mtimeMs: 0, ctimeMs: 0, entries: null });

const name = fc.oneof(fc.constantFrom('a', 'b', 'c', 'Aa', 'BB'), fc.string({ maxLength: 6 }));
const op = fc.oneof(
  fc.tuple(fc.constant('set' as const), name, fc.nat(1000), fc.boolean()),
  fc.tuple(fc.constant('delete' as const), name, fc.constant(0), fc.constant(false)),
);

describe('DirMap', () => {
  it('agrees with a Map, keeps its aggregates, and has one shape per content', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        let map: DirMap = null;
        const model = new Map<string, Entry>();
        for (const [kind, key, ino, isDir] of ops) {
          if (kind === 'set') {
            const entry = isDir ? dir(ino) : file(ino);
            map = dirMapSet(map, key, entry);
            model.set(key, entry);
          } else {
            map = dirMapDelete(map, key);
            model.delete(key);
          }
        }
        expect(dirMapSize(map)).toBe(model.size);
        expect(dirMapDirs(map)).toBe([...model.values()].filter((e) => e.type === 'dir').length);
        for (const [key, entry] of model) expect(dirMapGet(map, key)).toBe(entry);
        expect(new Map([...dirMapEntries(map)].map((l) => [l.name, l.entry]))).toEqual(model);
        // Rebuilt from scratch in another order, the map has the same shape.
        let rebuilt: DirMap = null;
        for (const [key, entry] of [...model].reverse()) rebuilt = dirMapSet(rebuilt, key, entry);
        expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(map));
      }),
      { numRuns: 300 },
    );
  });

  it('reports exactly the changed names between two versions', () => {
    fc.assert(
      fc.property(fc.uniqueArray(name, { maxLength: 200 }), fc.array(op, { maxLength: 20 }), (names, ops) => {
        let before: DirMap = null;
        names.forEach((key, i) => (before = dirMapSet(before, key, file(i))));
        let after: DirMap = before;
        for (const [kind, key, ino] of ops) after = kind === 'set' ? dirMapSet(after, key, file(ino + 10_000)) : dirMapDelete(after, key);
        const expected = new Set<string>();
        const a = new Map([...dirMapEntries(before)].map((l) => [l.name, l.entry]));
        const b = new Map([...dirMapEntries(after)].map((l) => [l.name, l.entry]));
        for (const key of new Set([...a.keys(), ...b.keys()])) if (a.get(key) !== b.get(key)) expected.add(key);
        const reported = [...dirMapChanges(before, after, false)];
        expect(new Set(reported.map((c) => c.name))).toEqual(expected);
        for (const change of reported) {
          expect(change.before).toBe(a.get(change.name));
          expect(change.after).toBe(b.get(change.name));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('changes one entry of a 100,000-entry directory by copying O(log n) nodes', () => {
    let map: DirMap = null;
    for (let i = 0; i < 100_000; i++) map = dirMapSet(map, `file-${i}`, file(i));
    const old = new Set<unknown>();
    const collect = (node: unknown, into: Set<unknown>): void => {
      if (node === null || typeof node !== 'object' || !('bitmap' in node)) return;
      into.add(node);
      for (const slot of (node as unknown as { slots: unknown[] }).slots) collect(slot, into);
    };
    collect(map, old);
    const changed = dirMapSet(map, 'file-777', file(1));
    const now = new Set<unknown>();
    collect(changed, now);
    const fresh = [...now].filter((node) => !old.has(node));
    expect(fresh.length).toBeLessThanOrEqual(5);
    expect([...dirMapChanges(map, changed, false)].map((c) => c.name)).toEqual(['file-777']);
  });
});
