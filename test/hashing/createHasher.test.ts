import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createHasher, defaultWorkerCount } from '../../src/hashing/createHasher.js';
import { InlineHasher } from '../../src/hashing/InlineHasher.js';
import { WorkerPoolHasher } from '../../src/hashing/WorkerPoolHasher.js';

describe('createHasher', () => {
  it('makes an InlineHasher for 0 workers and a pool otherwise', async () => {
    const inline = createHasher(0);
    expect(inline).toBeInstanceOf(InlineHasher);
    expect(inline.threads).toBe(0);
    const pool = createHasher(2);
    expect(pool).toBeInstanceOf(WorkerPoolHasher);
    expect(pool.threads).toBe(2);
    await Promise.all([inline.close(), pool.close()]);
  });

  it('rejects a worker count that is not a non-negative integer with TypeError', () => {
    expect(() => createHasher(-1)).toThrow(TypeError);
    expect(() => createHasher(1.5)).toThrow(TypeError);
    expect(() => createHasher(Number.NaN)).toThrow(TypeError);
  });

  it('defaults to one worker per CPU, none on one CPU, at most 4', () => {
    const cpus = availableParallelism();
    expect(defaultWorkerCount()).toBe(cpus < 2 ? 0 : Math.min(cpus, 4));
  });
});
