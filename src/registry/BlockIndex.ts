import { createHash } from 'node:crypto';
import { blockIdFromDigest, type BlockId } from '../core/BlockId.js';
import { fsError } from '../core/errors.js';
import { parseDigest, type Digest } from '../image/digest.js';
import { TarReader, type TarEntryType } from '../image/tar/index.js';
import { isZeroBlock } from '../store/isZeroBlock.js';

/**
 * The block index of one uncompressed layer blob: what a lazy pull needs to build the layer's
 * snapshot without its bytes, and to fetch any block of it later by an HTTP range request.
 *
 * It lists the layer's tar entries in archive order (a table of contents: each entry's header as
 * `TarReader` reports it), and for each regular file where its content starts in the blob and the
 * ids of its blocks: block `i` of a file of `size` bytes at blob offset `offset` holds the blob's
 * bytes `[offset + i·B, offset + min((i+1)·B, size))` and its id is their SHA-256, exactly the
 * `BlockId` a store of block size `B` gives that block (the canonical content invariant of
 * design.md: the last block short, an all-zero block a hole). So block id → byte range in the
 * layer blob, and a range fetched is checked by hashing it against the id it was asked for.
 *
 * Format (version 1), all integers little-endian:
 *
 * ```
 * index   := "CWBX" u32:version u32:blockSize u32:tocLength u32:blockCount u32:0 u64:layerSize
 *            layer[32]                                                    64 bytes of header
 *            toc[tocLength]                                               UTF-8 JSON
 *            blockId[32] * blockCount                                     all zeros: a hole
 * toc     := {"entries":[entry, …]}
 * entry   := {"path","type","mode","uid","gid","mtimeMs"[,"linkTarget"]
 *             [,"size","offset","firstBlock"]}                            the last three: files
 * ```
 *
 * `layer` is the SHA-256 of the layer blob the index describes (the blob is the uncompressed
 * tar, so it is also the layer's diffID), and `layerSize` its length. A file's blocks are
 * `blockId[firstBlock … firstBlock + ⌈size/B⌉)`. Why binary ids after a JSON table: ids are
 * 32 bytes each here against 66 as JSON hex, and a 1 GiB layer at 4 KiB blocks has 262,144 of
 * them (8 MiB); entries are few and varied, and JSON keeps them readable and extensible. The
 * whole index is read into memory: at most `MAX_BLOCK_INDEX_BYTES`. A version newer than 1 is
 * refused with `EINVAL`, never misread. The artifact's own digest protects it in transit; there
 * is no checksum inside.
 */
export interface TocEntry {
  readonly path: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
  readonly linkTarget?: string;
  /** Regular files: content length, its offset in the layer blob, and the index of its first block id. */
  readonly size?: number;
  readonly offset?: number;
  readonly firstBlock?: number;
}

/** Where a block's bytes are in the layer blob. */
export interface BlockRange {
  readonly offset: number;
  readonly length: number;
}

const MAGIC = 'CWBX';
const VERSION = 1;
const HEADER_BYTES = 64;
const ID_BYTES = 32;
/** The largest index read: 256 MiB (a 64 GiB layer at 64 KiB blocks needs 32 MiB of ids, at 4 KiB 512 MiB). */
export const MAX_BLOCK_INDEX_BYTES = 256 * 1024 * 1024;
const HOLE = Buffer.alloc(ID_BYTES);
const TYPES: ReadonlySet<string> = new Set(['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo', 'unsupported']);
const SYSCALL = 'blockIndex';

export class BlockIndex {
  readonly layer: Digest;
  readonly layerSize: number;
  readonly blockSize: number;
  readonly entries: readonly TocEntry[];
  /** `blockCount` ids of 32 bytes, back to back. */
  readonly #ids: Buffer;
  /** Id to where its bytes are: made at the first `locate`, ~150 bytes per distinct id. */
  #ranges: Map<BlockId, BlockRange> | undefined;

  constructor(layer: Digest, layerSize: number, blockSize: number, entries: readonly TocEntry[], ids: Buffer) {
    this.layer = layer;
    this.layerSize = layerSize;
    this.blockSize = blockSize;
    this.entries = entries;
    this.#ids = ids;
  }

  get blockCount(): number {
    return this.#ids.length / ID_BYTES;
  }

  /** The ids of a file entry's blocks, `null` for a hole. */
  fileBlocks(entry: TocEntry): Array<BlockId | null> {
    const out: Array<BlockId | null> = [];
    const count = Math.ceil((entry.size ?? 0) / this.blockSize);
    for (let i = 0; i < count; i++) out.push(this.#id(entry.firstBlock! + i));
    return out;
  }

  /** Where block `id` is in the layer blob (the first file holding it); `undefined` when no file has it. */
  locate(id: BlockId): BlockRange | undefined {
    if (this.#ranges === undefined) {
      this.#ranges = new Map();
      for (const entry of this.entries) {
        if (entry.type !== 'file') continue;
        this.fileBlocks(entry).forEach((block, i) => {
          if (block === null || this.#ranges!.has(block)) return;
          const start = i * this.blockSize;
          this.#ranges!.set(block, { offset: entry.offset! + start, length: Math.min(this.blockSize, entry.size! - start) });
        });
      }
    }
    return this.#ranges.get(id);
  }

  encode(): Buffer {
    const toc = Buffer.from(JSON.stringify({ entries: this.entries }), 'utf8');
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(VERSION, 4);
    header.writeUInt32LE(this.blockSize, 8);
    header.writeUInt32LE(toc.length, 12);
    header.writeUInt32LE(this.blockCount, 16);
    header.writeBigUInt64LE(BigInt(this.layerSize), 24);
    Buffer.from(this.layer.slice('sha256:'.length), 'hex').copy(header, 32);
    return Buffer.concat([header, toc, this.#ids]);
  }

  /**
   * Reads an index, checking it whole: the magic, the version, the lengths, every entry's fields,
   * every file's range inside the blob and its ids inside the list. `EINVAL` (syscall
   * `blockIndex`, `path` = `what`) for anything else.
   */
  static decode(bytes: Uint8Array, what: string): BlockIndex {
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const invalid = (detail: string): Error => fsError('EINVAL', { syscall: SYSCALL, path: what, detail });
    if (data.length < HEADER_BYTES || data.toString('latin1', 0, 4) !== MAGIC) throw invalid('not a cowstack block index');
    const version = data.readUInt32LE(4);
    if (version !== VERSION) throw invalid(`format version ${version}; this cowstack reads version ${VERSION}`);
    const blockSize = data.readUInt32LE(8);
    const tocLength = data.readUInt32LE(12);
    const blockCount = data.readUInt32LE(16);
    const layerSize = Number(data.readBigUInt64LE(24));
    if (blockSize < 512 || (blockSize & (blockSize - 1)) !== 0) throw invalid(`block size ${blockSize} is not a power of two`);
    if (!Number.isSafeInteger(layerSize)) throw invalid('layer size out of range');
    if (data.length !== HEADER_BYTES + tocLength + blockCount * ID_BYTES) throw invalid(`${data.length} bytes, the header says ${HEADER_BYTES + tocLength + blockCount * ID_BYTES}`);
    const layer = parseDigest(`sha256:${data.toString('hex', 32, 64)}`, what);
    let toc: unknown;
    try {
      toc = JSON.parse(data.toString('utf8', HEADER_BYTES, HEADER_BYTES + tocLength));
    } catch (cause) {
      throw fsError('EINVAL', { syscall: SYSCALL, path: what, detail: 'the table of contents is not JSON', cause });
    }
    const list = (toc as { entries?: unknown } | null)?.entries;
    if (!Array.isArray(list)) throw invalid('the table of contents has no entries');
    const entries = list.map((item, i) => checkEntry(item, blockSize, blockCount, layerSize, invalid, i));
    return new BlockIndex(layer, layerSize, blockSize, entries, Buffer.from(data.subarray(HEADER_BYTES + tocLength)));
  }

  #id(n: number): BlockId | null {
    const raw = this.#ids.subarray(n * ID_BYTES, (n + 1) * ID_BYTES);
    return raw.equals(HOLE) ? null : blockIdFromDigest(raw);
  }
}

function checkEntry(
  item: unknown, blockSize: number, blockCount: number, layerSize: number, invalid: (detail: string) => Error, i: number,
): TocEntry {
  const fields = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
  const bad = (field: string): Error => invalid(`entry ${i}: ${field} is missing or out of range`);
  const natural = (field: string): number => {
    const value = fields[field];
    if (!Number.isSafeInteger(value) || (value as number) < 0) throw bad(field);
    return value as number;
  };
  if (typeof fields.path !== 'string') throw bad('path');
  if (typeof fields.type !== 'string' || !TYPES.has(fields.type)) throw bad('type');
  if (typeof fields.mtimeMs !== 'number' || !Number.isFinite(fields.mtimeMs)) throw bad('mtimeMs');
  if (fields.linkTarget !== undefined && typeof fields.linkTarget !== 'string') throw bad('linkTarget');
  const entry: TocEntry = {
    path: fields.path, type: fields.type as TarEntryType, mode: natural('mode'), uid: natural('uid'), gid: natural('gid'), mtimeMs: fields.mtimeMs,
    ...(fields.linkTarget === undefined ? {} : { linkTarget: fields.linkTarget }),
  };
  if (entry.type !== 'file') return entry;
  const size = natural('size');
  const offset = natural('offset');
  const firstBlock = natural('firstBlock');
  if (offset + size > layerSize) throw bad('offset');
  if (firstBlock + Math.ceil(size / blockSize) > blockCount) throw bad('firstBlock');
  return { ...entry, size, offset, firstBlock };
}

/**
 * Builds the index of an uncompressed layer tar streamed in `tar`, whose digest is `layer`: every
 * entry's header, and the id of every block of every file, at `blockSize`. Rejects as
 * `TarReader` does for a bad archive.
 */
export async function buildBlockIndex(tar: AsyncIterable<Uint8Array>, layer: Digest, blockSize: number): Promise<BlockIndex> {
  const position = new StreamPosition();
  const entries: TocEntry[] = [];
  const ids: Buffer[] = [];
  const block = Buffer.allocUnsafe(blockSize);
  const addBlock = (bytes: Buffer): void => {
    ids.push(isZeroBlock(bytes) ? HOLE : createHash('sha256').update(bytes).digest());
  };
  for await (const { header, body } of new TarReader(position.tap(tar))) {
    const entry: TocEntry = {
      path: header.path, type: header.type, mode: header.mode, uid: header.uid, gid: header.gid, mtimeMs: header.mtimeMs,
      ...(header.linkTarget === '' ? {} : { linkTarget: header.linkTarget }),
    };
    if (header.type !== 'file') {
      entries.push(entry);
      continue;
    }
    const firstBlock = ids.length;
    let offset: number | undefined;
    let filled = 0;
    for await (const chunk of body) {
      offset ??= position.offsetOf(chunk);
      for (let at = 0; at < chunk.length; ) {
        const length = Math.min(chunk.length - at, blockSize - filled);
        block.set(chunk.subarray(at, at + length), filled);
        filled += length;
        at += length;
        if (filled === blockSize) {
          addBlock(block);
          filled = 0;
        }
      }
    }
    if (filled > 0) addBlock(block.subarray(0, filled));
    entries.push({ ...entry, size: header.size, offset: offset ?? 0, firstBlock });
  }
  return new BlockIndex(layer, position.total, blockSize, entries, Buffer.concat(ids));
}

/**
 * Where the bytes of a stream are: it passes the stream on, and tells the offset of any view of
 * the chunk it passed last. `TarReader` hands out a body's bytes as views of the chunk it holds,
 * and pulls the next chunk only once that one is used up, so a body's first bytes are a view of
 * the chunk passed last.
 */
class StreamPosition {
  #chunk: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;

  async *tap(stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of stream) {
      this.#chunk = chunk;
      this.#start = this.#end;
      this.#end += chunk.length;
      yield chunk;
    }
  }

  get total(): number {
    return this.#end;
  }

  offsetOf(view: Uint8Array): number {
    const delta = view.byteOffset - this.#chunk.byteOffset;
    if (view.buffer !== this.#chunk.buffer || delta < 0 || delta + view.length > this.#chunk.length) {
      throw new Error('a tar body chunk is not a view of the stream chunk passed last: its offset is unknown');
    }
    return this.#start + delta;
  }
}
