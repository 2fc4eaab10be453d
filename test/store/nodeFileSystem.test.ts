import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFileSystem } from '../../src/store/disk/NodeFileSystem.js';

/** The real file system's gathered write, which packs append with (src/store/disk/FileSystem.ts). */
let dir: string | undefined;
afterEach(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('NodeFileSystem', () => {
  it('writev writes every buffer in order from the position, more than IOV_MAX (1024) of them, empty ones included', async () => {
    dir = await mkdtemp(join(tmpdir(), 'cowstack-fs-'));
    const path = join(dir, 'file');
    const fs = new NodeFileSystem();
    const file = await fs.open(path, 'wx');
    const prefix = randomBytes(100);
    await file.write(prefix, 0, prefix.length, 0);
    const buffers = Array.from({ length: 2500 }, (_, i) => randomBytes(i % 7 === 0 ? 0 : 1 + ((i * 7919) % 5000)));
    await file.writev(buffers, prefix.length);
    await file.close();
    expect((await readFile(path)).equals(Buffer.concat([prefix, ...buffers]))).toBe(true);
  });
});
