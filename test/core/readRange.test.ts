import { describe, expect, it } from 'vitest';
import type { BlockId } from '../../src/core/BlockId.js';
import { EMPTY_VECTOR } from '../../src/core/BlockVector.js';
import type { FileEntry } from '../../src/core/Entry.js';
import { InlineHasher } from '../../src/hashing/InlineHasher.js';
import { readRange, writeRange } from '../../src/layer/fileContent.js';
import { MemoryBlockStore } from '../../src/store/MemoryBlockStore.js';

const BLOCK = 4096;

/** A memory store whose `get` of chosen ids rejects at once or answers late. */
class SlowStore extends MemoryBlockStore {
  failing = new Set<BlockId>();
  late = new Set<BlockId>();

  override async get(id: BlockId): Promise<Uint8Array> {
    if (this.failing.has(id)) throw Object.assign(new Error('injected read failure'), { code: 'EIO' });
    if (this.late.has(id)) await new Promise((resolve) => setTimeout(resolve, 30));
    return super.get(id);
  }
}

async function fileOf(store: MemoryBlockStore, parts: Array<number | 'hole'>): Promise<FileEntry> {
  let file: FileEntry = { type: 'file', ino: 2, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0, ctimeMs: 0, size: 0, blocks: EMPTY_VECTOR };
  for (const [i, part] of parts.entries()) {
    const bytes = Buffer.alloc(part === 'hole' ? BLOCK : part, part === 'hole' ? 0 : i + 1);
    file = await writeRange(store, file, i * BLOCK, bytes, 0);
  }
  return file;
}

describe('readRange into a caller\'s buffer', () => {
  it('writes every byte of the range, holes and past-the-end zeros included, whatever the buffer held', async () => {
    const store = new MemoryBlockStore(BLOCK, new InlineHasher());
    const file = await fileOf(store, [BLOCK, 'hole', BLOCK, 100]);
    const into = Buffer.alloc(4 * BLOCK, 0xee);
    const read = await readRange(store, file, 10, 4 * BLOCK, into);
    expect(read.length).toBe(3 * BLOCK + 100 - 10);
    expect(read.buffer).toBe(into.buffer);
    const expected = Buffer.concat([Buffer.alloc(BLOCK - 10, 1), Buffer.alloc(BLOCK, 0), Buffer.alloc(BLOCK, 3), Buffer.alloc(100, 4)]);
    expect(read.equals(expected)).toBe(true);
    expect(into.subarray(read.length).every((byte) => byte === 0xee)).toBe(true); // nothing past the range
  });

  it('rejects only once every block read has ended: nothing writes into the buffer afterwards', async () => {
    const store = new SlowStore(BLOCK, new InlineHasher());
    const file = await fileOf(store, [BLOCK, BLOCK, BLOCK]);
    const ids = await Promise.all([1, 2, 3].map(async (fill) => (await store.put([Buffer.alloc(BLOCK, fill)]))[0]!));
    store.failing.add(ids[0]!);
    store.late.add(ids[2]!);
    const into = Buffer.alloc(3 * BLOCK, 0xee);
    await expect(readRange(store, file, 0, 3 * BLOCK, into)).rejects.toMatchObject({ code: 'EIO' });
    const after = Buffer.from(into);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(into.equals(after)).toBe(true);
    expect(after.subarray(2 * BLOCK).every((byte) => byte === 3)).toBe(true); // the late block landed before the rejection
  });
});
