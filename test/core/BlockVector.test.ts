import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import {
  EMPTY_VECTOR, VECTOR_FANOUT, vectorChanges, vectorEquals, vectorForEach, vectorGet, vectorRange, vectorSet, vectorTruncate,
  type BlockRef, type BlockVector,
} from '../../src/core/BlockVector.js';

const id = (n: number): BlockId => n.toString(16).padStart(64, '0') as BlockId;

/** The plain model: a sparse array of refs. */
type Model = Map<number, BlockId>;

const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), updates: fc.uniqueArray(fc.tuple(fc.nat(300_000), fc.option(fc.nat(50), { nil: null })), { selector: (u) => u[0], maxLength: 40 }) }),
  fc.record({ kind: fc.constant('truncate' as const), count: fc.nat(300_000) }),
);

type Step = { kind: 'set'; updates: [number, number | null][] } | { kind: 'truncate'; count: number };

function apply(vector: BlockVector, model: Model, step: Step): BlockVector {
  if (step.kind === 'set') {
    const updates = [...step.updates].sort((a, b) => a[0] - b[0]).map(([i, v]) => [i, v === null ? null : id(v)] as const);
    for (const [i, v] of updates) (v === null ? model.delete(i) : model.set(i, v));
    return vectorSet(vector, updates);
  }
  for (const i of [...model.keys()]) if (i >= step.count) model.delete(i);
  return vectorTruncate(vector, step.count);
}

function contents(vector: BlockVector): Model {
  const out: Model = new Map();
  vectorForEach(vector, (i, v) => out.set(i, v));
  return out;
}

describe('BlockVector', () => {
  it('agrees with a sparse array under any sequence of sets and truncates', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), fc.array(fc.nat(300_000), { maxLength: 20 }), (steps, probes) => {
        let vector = EMPTY_VECTOR;
        const model: Model = new Map();
        for (const step of steps) vector = apply(vector, model, step);
        expect(contents(vector)).toEqual(model);
        for (const p of probes) expect(vectorGet(vector, p)).toBe(model.get(p) ?? null);
        const start = probes[0] ?? 0;
        const range = vectorRange(vector, start, start + 200);
        range.forEach((ref, k) => expect(ref).toBe(model.get(start + k) ?? null));
      }),
      { numRuns: 300 },
    );
  });

  it('has one shape per content, whatever history made it', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(100_000), { maxLength: 60 }), (indexes) => {
        const sorted = [...indexes].sort((a, b) => a - b);
        const once = vectorSet(EMPTY_VECTOR, sorted.map((i) => [i, id(i + 1)] as const));
        let oneByOne = vectorSet(EMPTY_VECTOR, [[1_000_000, id(7)]]);
        for (const i of [...indexes].reverse()) oneByOne = vectorSet(oneByOne, [[i, id(i + 1)]]);
        oneByOne = vectorTruncate(oneByOne, 100_001);
        expect(JSON.stringify(oneByOne)).toBe(JSON.stringify(once));
        expect(vectorEquals(once, oneByOne)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('changes one block by copying only the nodes on its path', () => {
    const blocks = VECTOR_FANOUT ** 3; // a height-2 tree: 262,144 blocks (1 GiB at 4 KiB)
    const base = vectorSet(EMPTY_VECTOR, Array.from({ length: blocks }, (_, i) => [i, id(i + 1)] as const));
    expect(base.height).toBe(2);
    const changed = vectorSet(base, [[123_456, id(9)]]);
    // Count nodes of `changed` that are not shared with `base`: exactly height + 1.
    const fresh = new Set<unknown>();
    const seen = new Set<unknown>();
    const collect = (node: unknown, into: Set<unknown>): void => {
      if (node === null || typeof node !== 'object') return;
      into.add(node);
      for (const slot of (node as { slots: unknown[] }).slots) collect(slot, into);
    };
    collect(base.root, seen);
    const all = new Set<unknown>();
    collect(changed.root, all);
    for (const node of all) if (!seen.has(node)) fresh.add(node);
    expect(fresh.size).toBe(3);
    const diffs: [number, BlockRef][] = [];
    vectorChanges(base, changed, (i, ref) => diffs.push([i, ref]));
    expect(diffs).toEqual([[123_456, id(9)]]);
  });
});
