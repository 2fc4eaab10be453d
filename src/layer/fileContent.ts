import { EMPTY_VECTOR, vectorRange, vectorSet, vectorTruncate, type BlockRef } from '../core/BlockVector.js';
import type { FileEntry } from '../core/Entry.js';
import type { BlockStore } from '../store/BlockStore.js';

/**
 * Reading and writing a file's bytes through its block list: the block-level copy-on-write.
 *
 * Invariant kept by every function here (the canonical form of a file): block `i` holds exactly
 * the file's bytes `[i × blockSize, min((i + 1) × blockSize, size))`, or is a hole when they are
 * all zero. So the same content always gives the same blocks, whatever history made it, and a
 * write touches only the blocks its range overlaps (plus the old last block when it grows a file
 * whose last block was short).
 */

/** Files larger than this reject with `EFBIG`: block indexes stay exact in a double. */
export const MAX_FILE_SIZE = 2 ** 48;

/**
 * Block bytes per `BlockStore.put` of a large write (a batch holds at least one block). It bounds
 * the synchronous work each batch costs the main thread between two turns of the event loop: the
 * zero check, the copy into hash slabs and the store's own copy or pack record, all O(batch
 * bytes). 8 MiB is two slabs of the hash pool (`DEFAULT_SLAB_BYTES`), so two workers hash each
 * batch side by side. The sizes tried and what they measured: design.md, "Event-loop delay".
 */
export const WRITE_BATCH_BYTES = 8 * 1024 * 1024;

/**
 * Reads `[position, position + length)`, cut at the end of the file, into `into` (from its start;
 * it must hold that many bytes) or a new buffer; resolves to the bytes read (a view of `into`).
 * Every byte of the result is written (holes as zeros), so `into` need not be clean. On failure
 * it rejects only once every block's read has ended, so nothing writes into `into` afterwards.
 */
export async function readRange(blocks: BlockStore, file: FileEntry, position: number, length: number, into?: Uint8Array): Promise<Buffer> {
  const end = Math.min(file.size, position + length);
  if (end <= position) return Buffer.alloc(0);
  const size = blocks.blockSize;
  const first = Math.floor(position / size);
  const refs = vectorRange(file.blocks, first, Math.floor((end - 1) / size) + 1);
  const out = into === undefined ? Buffer.allocUnsafe(end - position) : Buffer.from(into.buffer, into.byteOffset, end - position);
  const reads = await Promise.allSettled(
    refs.map(async (ref, k) => {
      const blockStart = (first + k) * size;
      const from = Math.max(position, blockStart);
      const to = Math.min(end, blockStart + size);
      let filled = from;
      if (ref !== null) {
        const bytes = await blocks.get(ref);
        filled = Math.max(from, Math.min(to, blockStart + bytes.byteLength));
        if (filled > from) out.set(bytes.subarray(from - blockStart, filled - blockStart), from - position);
      }
      // A hole, or the zeros past a short last block's end.
      if (filled < to) out.fill(0, filled - position, to - position);
    }),
  );
  const failed = reads.find((read): read is PromiseRejectedResult => read.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return out;
}

/** The logical bytes of block `index` of `file` at its current size (zeros for a hole). */
async function blockBytes(blocks: BlockStore, file: FileEntry, index: number, ref: BlockRef, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  const start = index * blocks.blockSize;
  if (ref !== null && start < file.size) {
    const bytes = await blocks.get(ref);
    out.set(bytes.subarray(0, Math.min(bytes.byteLength, length, file.size - start)));
  }
  return out;
}

/**
 * Stores the given new contents of blocks, in batches of at most `WRITE_BATCH_BYTES` put one after
 * the other, and returns the file's vector with them set.
 */
async function storeBlocks(blocks: BlockStore, file: FileEntry, indexes: number[], contents: Uint8Array[]): Promise<FileEntry['blocks']> {
  let vector = file.blocks;
  for (let start = 0, end = 0; start < contents.length; start = end) {
    let bytes = contents[end++]!.byteLength;
    while (end < contents.length && bytes + contents[end]!.byteLength <= WRITE_BATCH_BYTES) bytes += contents[end++]!.byteLength;
    const refs = await blocks.put(contents.slice(start, end));
    vector = vectorSet(vector, refs.map((ref, k) => [indexes[start + k]!, ref] as const));
  }
  return vector;
}

/**
 * Writes `data` at `position`; a gap past the end becomes a hole. Only the blocks the range
 * touches are read (when partly overwritten) and stored.
 */
export async function writeRange(blocks: BlockStore, file: FileEntry, position: number, data: Uint8Array, nowMs: number): Promise<FileEntry> {
  if (data.byteLength === 0) return file;
  const size = blocks.blockSize;
  const end = position + data.byteLength;
  const newSize = Math.max(file.size, end);
  const first = Math.floor(position / size);
  const last = Math.floor((end - 1) / size);
  const indexes: number[] = [];
  const tail = Math.floor(file.size / size);
  if (file.size % size !== 0 && tail < first) indexes.push(tail);
  for (let i = first; i <= last; i++) indexes.push(i);
  const existing = vectorRange(file.blocks, indexes[0]!, last + 1);
  const contents = await Promise.all(
    indexes.map(async (index) => {
      const blockStart = index * size;
      const length = Math.min(size, newSize - blockStart);
      if (position <= blockStart && end >= blockStart + length) {
        return data.subarray(blockStart - position, blockStart - position + length);
      }
      const bytes = await blockBytes(blocks, file, index, existing[index - indexes[0]!]!, length);
      const from = Math.max(position, blockStart);
      const to = Math.min(end, blockStart + length);
      if (to > from) bytes.set(data.subarray(from - position, to - position), from - blockStart);
      return bytes;
    }),
  );
  const vector = await storeBlocks(blocks, file, indexes, contents);
  return { ...file, size: newSize, blocks: vector, mtimeMs: nowMs, ctimeMs: nowMs };
}

/** Replaces the whole content (`writeFile`): every block is new, none is read. */
export async function replaceContent(blocks: BlockStore, file: FileEntry, data: Uint8Array, nowMs: number): Promise<FileEntry> {
  const empty: FileEntry = { ...file, size: 0, blocks: EMPTY_VECTOR, mtimeMs: nowMs, ctimeMs: nowMs };
  return writeRange(blocks, empty, 0, data, nowMs).then((written) => (data.byteLength === 0 ? empty : written));
}

/** Sets the size: shrinking drops blocks and cuts the new last one; growing adds a hole. */
export async function truncateContent(blocks: BlockStore, file: FileEntry, length: number, nowMs: number): Promise<FileEntry> {
  if (length === file.size) return file;
  const size = blocks.blockSize;
  const count = Math.ceil(length / size);
  let vector = length < file.size ? vectorTruncate(file.blocks, count) : file.blocks;
  // The block that ends the shorter of the two sizes changes length: cut it, or pad it with zeros.
  const edge = Math.floor(Math.min(length, file.size) / size);
  const edgeStart = edge * size;
  if (edgeStart < Math.min(length, file.size)) {
    const [ref] = vectorRange(file.blocks, edge, edge + 1);
    const bytes = await blockBytes(blocks, file, edge, ref ?? null, Math.min(size, length - edgeStart));
    const [stored] = await blocks.put([bytes]);
    vector = vectorSet(vector, [[edge, stored ?? null]]);
  }
  return { ...file, size: length, blocks: vector, mtimeMs: nowMs, ctimeMs: nowMs };
}
