import { fsError } from '../core/errors.js';
import type { FileHandle } from './FileHandle.js';
import type { OpenFile } from './OpenFile.js';
import type { Stats } from './Stats.js';

/** What a handle asks of its layer; every call runs in the layer's order. */
export interface FileAccess {
  /** Reads into `into` (from its start) when given, else into a new buffer; resolves to the bytes read. */
  read(file: OpenFile, position: number, length: number, into?: Uint8Array): Promise<Buffer>;
  /** Writes at `position`, or at the end for `'append'`; resolves to the position after the data. */
  write(file: OpenFile, position: number | 'append', data: Uint8Array): Promise<number>;
  truncate(file: OpenFile, length: number): Promise<void>;
  stat(file: OpenFile): Promise<Stats>;
  sync(): Promise<void>;
  release(file: OpenFile): void;
}

export interface HandleMode {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly append: boolean;
}

/** A `FileHandle` of a layer: the handle's position and mode over an `OpenFile`. */
export class LayerFileHandle implements FileHandle {
  readonly #access: FileAccess;
  readonly #file: OpenFile;
  readonly #mode: HandleMode;
  readonly #path: string;
  #position = 0;
  #closed = false;

  constructor(access: FileAccess, file: OpenFile, mode: HandleMode, path: string) {
    this.#access = access;
    this.#file = file;
    this.#mode = mode;
    this.#path = path;
  }

  async read<T extends Uint8Array>(buffer: T, offset = 0, length = buffer.byteLength - offset, position: number | null = null): Promise<{ bytesRead: number; buffer: T }> {
    this.#check('read', this.#mode.readable);
    checkRange(buffer, offset, length);
    const at = position === null || position < 0 ? this.#position : position;
    const bytes = await this.#access.read(this.#file, at, length, buffer.subarray(offset, offset + length));
    if (position === null || position < 0) this.#position = at + bytes.byteLength;
    return { bytesRead: bytes.byteLength, buffer };
  }

  async write<T extends Uint8Array>(buffer: T, offset = 0, length = buffer.byteLength - offset, position: number | null = null): Promise<{ bytesWritten: number; buffer: T }> {
    this.#check('write', this.#mode.writable);
    checkRange(buffer, offset, length);
    const data = buffer.subarray(offset, offset + length);
    const explicit = position !== null && position >= 0;
    const end = await this.#access.write(this.#file, this.#mode.append ? 'append' : explicit ? position : this.#position, data);
    if (!explicit) this.#position = end;
    return { bytesWritten: length, buffer };
  }

  async readFile(): Promise<Buffer> {
    this.#check('read', this.#mode.readable);
    const size = (await this.#access.stat(this.#file)).size;
    const bytes = await this.#access.read(this.#file, this.#position, Math.max(0, size - this.#position));
    this.#position += bytes.byteLength;
    return bytes;
  }

  async truncate(len = 0): Promise<void> {
    this.#check('ftruncate', this.#mode.writable);
    await this.#access.truncate(this.#file, len);
  }

  async stat(): Promise<Stats> {
    this.#check('fstat', true);
    return this.#access.stat(this.#file);
  }

  async sync(): Promise<void> {
    this.#check('fsync', true);
    await this.#access.sync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#access.release(this.#file);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(syscall: string, allowed: boolean): void {
    if (this.#closed) throw fsError('EBADF', { syscall, detail: 'file handle is closed' });
    if (!allowed) throw fsError('EBADF', { syscall, path: this.#path, detail: `file handle was not opened for ${syscall === 'read' ? 'reading' : 'writing'}` });
  }
}

function checkRange(buffer: Uint8Array, offset: number, length: number): void {
  if (!(buffer instanceof Uint8Array)) throw new TypeError('buffer must be a Uint8Array');
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > buffer.byteLength) {
    throw new RangeError(`offset ${offset} and length ${length} do not fit a buffer of ${buffer.byteLength} bytes`);
  }
}
