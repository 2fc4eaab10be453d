import { setImmediate } from 'node:timers/promises';
import type { FileSystem, StoreFile } from '../../src/store/disk/FileSystem.js';
import { NodeFileSystem } from '../../src/store/disk/NodeFileSystem.js';

/**
 * A `FileSystem` over the real one (`NodeFileSystem`) that controls when reads happen, for tests
 * of what a store does while a read is in flight. Orders events, never measures time:
 *
 * - **Holding.** `holdNextRead(match)` stops the next `read` of a file whose path `match`es
 *   before it reaches the real file, until `release()`; `arrived` resolves once it is held.
 * - **Delaying.** `delayReads(turns)` makes every read wait that many event-loop turns before it
 *   reaches the real file, as a busy thread pool would.
 * - **Counting.** Reads (`reads`: calls that reached a file); files opened, closed and closing; closes of a file while one of its reads was
 *   in flight (`closedDuringRead`: on POSIX such a read may fail with EBADF, or read another file
 *   that reused the descriptor); closes of a file already closed.
 *
 * A read reaching a closed file rejects with EBADF, as `node:fs` does.
 */
export class GatedFileSystem implements FileSystem {
  readonly #real = new NodeFileSystem();
  readonly #waiters: { condition: () => boolean; resolve: () => void }[] = [];
  #hold: { match: (path: string) => boolean; gate: Promise<void>; arrived: (path: string) => void } | undefined;
  #turns = 0;
  opened = 0;
  /** Files whose close has ended. */
  closed = 0;
  /** Closes begun and not ended yet. */
  closing = 0;
  closedDuringRead = 0;
  closedTwice = 0;
  /** `read` calls made on files of this file system. */
  reads = 0;

  /** Files opened and not closed yet. */
  get openFiles(): number {
    return this.opened - this.closed;
  }

  /**
   * Holds the next read of a path that `match` accepts, until `release()` is called; `arrived`
   * resolves to that path once the read is held.
   */
  holdNextRead(match: (path: string) => boolean): { arrived: Promise<string>; release: () => void } {
    let release!: () => void;
    let arrived!: (path: string) => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const arrival = new Promise<string>((resolve) => (arrived = resolve));
    this.#hold = { match, gate, arrived };
    return { arrived: arrival, release };
  }

  /** Every read from now on waits `turns` event-loop turns first. */
  delayReads(turns: number): void {
    this.#turns = turns;
  }

  /** Resolves once `condition` holds after some open, read or close (at once when it holds now). */
  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ condition, resolve }));
  }

  async open(path: string, flags: 'r' | 'r+' | 'wx'): Promise<StoreFile> {
    const file = new GatedFile(this, path, await this.#real.open(path, flags));
    this.opened++;
    this.changed();
    return file;
  }

  readFile(path: string): Promise<Buffer> {
    return this.#real.readFile(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.#real.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return this.#real.unlink(path);
  }

  readdir(path: string): Promise<string[]> {
    return this.#real.readdir(path);
  }

  mkdir(path: string): Promise<void> {
    return this.#real.mkdir(path);
  }

  syncDir(path: string): Promise<void> {
    return this.#real.syncDir(path);
  }

  exists(path: string): Promise<boolean> {
    return this.#real.exists(path);
  }

  /** Waits as told before a read of `path` reaches the real file. */
  async beforeRead(path: string): Promise<void> {
    const hold = this.#hold;
    if (hold !== undefined && hold.match(path)) {
      this.#hold = undefined;
      hold.arrived(path);
      await hold.gate;
    }
    for (let i = 0; i < this.#turns; i++) await setImmediate();
  }

  /** Wakes the `until` waiters whose condition now holds. */
  changed(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i]!;
      if (!waiter.condition()) continue;
      this.#waiters.splice(i, 1);
      waiter.resolve();
    }
  }
}

class GatedFile implements StoreFile {
  readonly #fs: GatedFileSystem;
  readonly #path: string;
  readonly #real: StoreFile;
  #reading = 0;
  #closed = false;

  constructor(fs: GatedFileSystem, path: string, real: StoreFile) {
    this.#fs = fs;
    this.#path = path;
    this.#real = real;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.#reading++;
    this.#fs.reads++;
    try {
      await this.#fs.beforeRead(this.#path);
      return await this.#real.read(buffer, offset, length, position);
    } finally {
      this.#reading--;
      this.#fs.changed();
    }
  }

  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    return this.#real.write(buffer, offset, length, position);
  }

  writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
    return this.#real.writev(buffers, position);
  }

  sync(): Promise<void> {
    return this.#real.sync();
  }

  truncate(length: number): Promise<void> {
    return this.#real.truncate(length);
  }

  size(): Promise<number> {
    return this.#real.size();
  }

  async close(): Promise<void> {
    if (this.#closed) {
      this.#fs.closedTwice++;
      return;
    }
    this.#closed = true;
    if (this.#reading > 0) this.#fs.closedDuringRead++;
    this.#fs.closing++;
    try {
      await this.#real.close();
    } finally {
      this.#fs.closing--;
      this.#fs.closed++;
      this.#fs.changed();
    }
  }
}
