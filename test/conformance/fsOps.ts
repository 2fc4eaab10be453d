import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { Layer } from '../model/api.js';
import { bytesArb, idArb, modeArb, offsetArb, pathArb, targetArb } from '../model/arbitraries.js';

/**
 * Blind filesystem operations for the property tests: each applies one call to a layer and
 * ignores the error a call may legitimately meet (an error with a `code`); anything else fails
 * the test. Unlike the model commands they predict nothing: the properties compare trees.
 */
export interface FsOp {
  apply(layer: Layer): Promise<void>;
  toString(): string;
}

function op(label: string, call: (layer: Layer) => Promise<unknown>): FsOp {
  return {
    async apply(layer: Layer): Promise<void> {
      try {
        await call(layer);
      } catch (error) {
        if (typeof (error as { code?: unknown } | null)?.code !== 'string') throw error;
      }
    },
    toString: () => label,
  };
}

const q = (s: string): string => JSON.stringify(s);

export const fsOpArb: fc.Arbitrary<FsOp> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(pathArb, bytesArb).map(([p, d]) => op(`writeFile(${q(p)}, ${d})`, (l) => l.writeFile(p, d.make()))) },
  { weight: 3, arbitrary: fc.tuple(pathArb, fc.option(modeArb, { nil: undefined })).map(([p, mode]) => op(`mkdir(${q(p)}, -p)`, (l) => l.mkdir(p, { recursive: true, ...(mode === undefined ? {} : { mode }) }))) },
  { weight: 1, arbitrary: fc.tuple(pathArb, bytesArb).map(([p, d]) => op(`appendFile(${q(p)}, ${d})`, (l) => l.appendFile(p, d.make()))) },
  { weight: 2, arbitrary: fc.tuple(pathArb, offsetArb, bytesArb).map(([p, at, d]) => op(`open(${q(p)}, 'r+').write(${d}, @${at})`, async (l) => {
    const fh = await l.open(p, 'r+');
    try {
      const bytes = d.make();
      await fh.write(bytes, 0, bytes.length, at);
    } finally {
      await fh.close();
    }
  })) },
  { weight: 1, arbitrary: fc.tuple(pathArb, offsetArb).map(([p, len]) => op(`truncate(${q(p)}, ${len})`, (l) => l.truncate(p, len))) },
  { weight: 2, arbitrary: pathArb.map((p) => op(`rm(${q(p)}, -rf)`, (l) => l.rm(p, { recursive: true, force: true }))) },
  { weight: 2, arbitrary: fc.tuple(pathArb, pathArb).map(([a, b]) => op(`rename(${q(a)}, ${q(b)})`, (l) => l.rename(a, b))) },
  { weight: 1, arbitrary: fc.tuple(targetArb, pathArb).map(([t, p]) => op(`symlink(${q(t)}, ${q(p)})`, (l) => l.symlink(t, p))) },
  { weight: 1, arbitrary: fc.tuple(pathArb, pathArb).map(([a, b]) => op(`link(${q(a)}, ${q(b)})`, (l) => l.link(a, b))) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constant('/'), pathArb), modeArb).map(([p, mode]) => op(`chmod(${q(p)}, 0o${mode.toString(8)})`, (l) => l.chmod(p, mode))) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constant('/'), pathArb), idArb, idArb).map(([p, u, g]) => op(`chown(${q(p)}, ${u}, ${g})`, (l) => l.chown(p, u, g))) },
);

export const fsOpsArb = (maxLength: number): fc.Arbitrary<FsOp[]> => fc.array(fsOpArb, { maxLength });

export async function applyAll(layer: Layer, ops: readonly FsOp[]): Promise<void> {
  for (const o of ops) await o.apply(layer);
}

/**
 * `n` bytes that repeat nowhere (so every block differs from every other one and from any
 * other seed's): SHA-256 in counter mode over `seed`.
 */
export function distinctBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let at = 0, counter = 0; at < n; counter++) {
    const digest = createHash('sha256').update(`${seed}:${counter}`).digest();
    at += digest.copy(out, at);
  }
  return out;
}
