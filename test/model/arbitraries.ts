import fc from 'fast-check';

/**
 * The small universe the commands draw from, so that paths, keys and contents collide often:
 * three names nested up to three deep, five snapshot keys, files up to three 4 KiB blocks with
 * sizes and offsets crowding the block edges.
 */
export const NAMES = ['a', 'b', 'c'] as const;
export const KEYS = ['s0', 's1', 's2', 's3', 's4'] as const;
export const BLOCK = 4096;

const EDGES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK, 2 * BLOCK + 1, 3 * BLOCK - 1, 3 * BLOCK];

/** 1 to 3 components, shallow ones likelier (a deep path needs its parents to exist first). */
const depthArb = fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 4, arbitrary: fc.constant(2) }, { weight: 2, arbitrary: fc.constant(3) });

/** A path that creates or removes a name: 1 to 3 components, absolute or relative (taken from `/`). */
export const pathArb: fc.Arbitrary<string> = fc
  .tuple(fc.boolean(), depthArb.chain((n) => fc.array(fc.constantFrom(...NAMES), { minLength: n, maxLength: n })))
  .map(([absolute, comps]) => (absolute ? '/' : '') + comps.join('/'));

/** A path to read through: also the root, `.`, `..` (physical, after symlinks) and `//`. */
export const readPathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: pathArb },
  { weight: 1, arbitrary: fc.constant('/') },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(fc.constantFrom(...NAMES, '.', '..', ''), { minLength: 1, maxLength: 4 }))
      .filter(([, comps]) => comps[comps.length - 1] !== '')
      .map(([absolute, comps]) => (absolute ? '/' : '') + comps.join('/')),
  },
);

/** A symlink target: relative (with `..`), absolute, `/`, dangling (`z` is never made by a path), or anything that loops. */
export const targetArb: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.constantFrom(...NAMES, '..', '.', 'z'), { minLength: 1, maxLength: 3 }).map((c) => c.join('/')),
  fc.array(fc.constantFrom(...NAMES, '..', 'z'), { minLength: 0, maxLength: 3 }).map((c) => '/' + c.join('/')),
);

/**
 * The contents a command writes, made on demand. `fill`: 0 is all zeros (a hole), -1 is zeros
 * with a tail of data, 1..5 a pattern whose every 4 KiB block differs from the others of the
 * same pattern, while two writes of one pattern share blocks (so dedup is exercised).
 */
export class Bytes {
  constructor(
    readonly size: number,
    readonly fill: number,
  ) {}

  make(): Buffer {
    const out = Buffer.alloc(this.size);
    if (this.fill === 0) return out;
    const seed = this.fill === -1 ? 7 : this.fill;
    const from = this.fill === -1 ? Math.max(0, this.size - 10) : 0;
    for (let i = from; i < this.size; i++) out[i] = (seed * 37 + i * (2 * seed + 1) + (i >>> 8) * 7 + (i >>> 12) * 131) & 0xff;
    return out;
  }

  toString(): string {
    return `bytes(${this.size}, ${this.fill})`;
  }
}

const sizeArb = fc.oneof(fc.constantFrom(...EDGES), fc.integer({ min: 0, max: 3 * BLOCK }));

export const bytesArb: fc.Arbitrary<Bytes> = fc
  .tuple(sizeArb, fc.oneof({ weight: 1, arbitrary: fc.constantFrom(0, -1) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 5 }) }))
  .map(([size, fill]) => new Bytes(size, fill));

/** Small writes through a file handle, so several can land inside one block. */
export const smallBytesArb: fc.Arbitrary<Bytes> = fc
  .tuple(fc.oneof(fc.constantFrom(1, 2, BLOCK), fc.integer({ min: 0, max: BLOCK + 1 })), fc.integer({ min: -1, max: 5 }))
  .map(([size, fill]) => new Bytes(size, fill));

/** An offset or a length, crowding the block edges, up to one block past three. */
export const offsetArb: fc.Arbitrary<number> = fc.oneof(fc.constantFrom(...EDGES, 4 * BLOCK), fc.integer({ min: 0, max: 4 * BLOCK }));

/** Permission bits only: setuid/setgid would make Linux clear them on chown and writes. */
export const modeArb: fc.Arbitrary<number> = fc.constantFrom(0o600, 0o640, 0o644, 0o700, 0o750, 0o755, 0o777, 0o000, 0o444);

export const idArb: fc.Arbitrary<number> = fc.constantFrom(0, 1, 1000, 65534);

export const keyArb: fc.Arbitrary<string> = fc.constantFrom(...KEYS);

export const labelsArb: fc.Arbitrary<Record<string, string>> = fc.dictionary(fc.constantFrom('team', 'tier'), fc.constantFrom('x', 'y'), {
  maxKeys: 2,
});


export function octal(mode: number | undefined): string {
  return mode === undefined ? 'undefined' : `0o${mode.toString(8)}`;
}
