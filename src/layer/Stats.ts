import { dirMapDirs } from '../core/DirMap.js';
import { typeBits, type NodeRecord } from '../core/Entry.js';
import { vectorForEach } from '../core/BlockVector.js';
import type { BlockStore } from '../store/BlockStore.js';

/** The size a directory reports, as ext4 does for a small one. */
const DIRECTORY_SIZE = 4096;

/**
 * The `is…()` predicates `fs.Stats` and `fs.Dirent` share, answered from the entry's type. A
 * snapshot holds no devices, FIFOs or sockets (a layer refuses them), so those are always false.
 */
abstract class EntryTypePredicates {
  readonly #type: NodeRecord['type'];

  protected constructor(type: NodeRecord['type']) {
    this.#type = type;
  }

  isFile(): boolean {
    return this.#type === 'file';
  }
  isDirectory(): boolean {
    return this.#type === 'dir';
  }
  isSymbolicLink(): boolean {
    return this.#type === 'symlink';
  }
  isBlockDevice(): boolean {
    return false;
  }
  isCharacterDevice(): boolean {
    return false;
  }
  isFIFO(): boolean {
    return false;
  }
  isSocket(): boolean {
    return false;
  }
}

/** `fs.Stats` of an inode in a snapshot: the same fields and predicates node gives. */
export class Stats extends EntryTypePredicates {
  readonly dev = 0;
  readonly rdev = 0;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly blksize: number;
  /** 512-byte units of stored (non-hole) data. */
  readonly blocks: number;
  readonly atimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly birthtimeMs: number;
  readonly atime: Date;
  readonly mtime: Date;
  readonly ctime: Date;
  readonly birthtime: Date;

  constructor(record: NodeRecord, blocks: BlockStore) {
    super(record.type);
    this.ino = record.ino;
    this.mode = typeBits(record) | record.mode;
    this.nlink = record.type === 'dir' ? 2 + dirMapDirs(record.entries) : 'nlink' in record ? record.nlink : 1;
    this.uid = record.uid;
    this.gid = record.gid;
    this.size = record.type === 'file' ? record.size : record.type === 'dir' ? DIRECTORY_SIZE : Buffer.byteLength(record.target);
    this.blksize = blocks.blockSize;
    let stored = 0;
    if (record.type === 'file') vectorForEach(record.blocks, (_, id) => (stored += Math.ceil(blocks.sizeOf(id) / 512)));
    this.blocks = stored;
    this.atimeMs = record.mtimeMs;
    this.mtimeMs = record.mtimeMs;
    this.ctimeMs = record.ctimeMs;
    this.birthtimeMs = record.ctimeMs;
    this.atime = new Date(this.atimeMs);
    this.mtime = new Date(this.mtimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
  }
}

/** A directory entry as `readdir(…, { withFileTypes: true })` gives it. */
export class Dirent extends EntryTypePredicates {
  readonly name: string;
  /** The directory that holds it, as node 20 reports in `path` and `parentPath`. */
  readonly parentPath: string;
  readonly path: string;

  constructor(name: string, parentPath: string, type: NodeRecord['type']) {
    super(type);
    this.name = name;
    this.parentPath = parentPath;
    this.path = parentPath;
  }
}
