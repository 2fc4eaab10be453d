import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { Dirent, Layer, OpenFlags, SnapshotInfo, Stats, Store } from './api.js';

/**
 * A `Layer` that is the host's own root directory through node:fs/promises: the ground truth the
 * reference model is checked against (hostOracle.test.ts, run inside a chroot by host-oracle.sh,
 * so that `/`, `..` and absolute symlink targets mean what they mean in a layer).
 *
 * The chroot's root also holds read-only bind mounts (usr, lib, …) that node itself needs; they
 * are hidden from readdir and from the root's link count, so the tree seen is only what the test
 * made. No test path can reach them: every name a test makes is a, b, c or z.
 *
 * API.md's defaults replace node's (the process runs with umask 0): a file is created 0o644 and a
 * directory 0o755 when no mode is given, where node would use 0o666 and 0o777.
 */
export class HostLayer implements Layer {
  readonly key = 's0';
  readonly readOnly = false;
  readonly #hidden: ReadonlySet<string>;
  readonly #rootIno: number;
  readonly #hiddenDirs: number;

  private constructor(hidden: ReadonlySet<string>, rootIno: number, hiddenDirs: number) {
    this.#hidden = hidden;
    this.#rootIno = rootIno;
    this.#hiddenDirs = hiddenDirs;
  }

  /** Everything now in `/` is the host's and stays hidden. */
  static async open(): Promise<HostLayer> {
    const names = await fs.readdir('/', { withFileTypes: true });
    const root = await fs.stat('/');
    return new HostLayer(new Set(names.map((d) => d.name)), root.ino, names.filter((d) => d.isDirectory()).length);
  }

  /** Empties the root of everything a run made and resets its mode and owner. */
  async reset(): Promise<void> {
    for (const name of await fs.readdir('/')) if (!this.#hidden.has(name)) await fs.rm(`/${name}`, { recursive: true, force: true });
    await fs.chmod('/', 0o755);
    await fs.chown('/', 0, 0);
  }

  #p(path: string): string {
    return path.startsWith('/') ? path : `/${path}`;
  }

  async #fixRoot(st: Stats): Promise<Stats> {
    if (st.ino === this.#rootIno) Object.defineProperty(st, 'nlink', { value: st.nlink - this.#hiddenDirs });
    return st;
  }

  readFile(path: string): Promise<Buffer> {
    return fs.readFile(this.#p(path));
  }
  writeFile(path: string, data: string | Uint8Array, options?: { mode?: number }): Promise<void> {
    return fs.writeFile(this.#p(path), data, { mode: options?.mode ?? 0o644 });
  }
  appendFile(path: string, data: string | Uint8Array): Promise<void> {
    return fs.appendFile(this.#p(path), data, { mode: 0o644 });
  }
  async open(path: string, flags: OpenFlags = 'r', mode?: number): Promise<fs.FileHandle> {
    return fs.open(this.#p(path), flags, mode ?? 0o644);
  }
  truncate(path: string, len?: number): Promise<void> {
    return fs.truncate(this.#p(path), len);
  }
  async stat(path: string): Promise<Stats> {
    return this.#fixRoot(await fs.stat(this.#p(path)));
  }
  async lstat(path: string): Promise<Stats> {
    return this.#fixRoot(await fs.lstat(this.#p(path)));
  }
  readdir(path: string): Promise<string[]>;
  readdir(path: string, options: { withFileTypes: true }): Promise<Dirent[]>;
  async readdir(path: string, options?: { withFileTypes: true }): Promise<string[] | Dirent[]> {
    const atRoot = (await fs.stat(this.#p(path))).ino === this.#rootIno;
    if (options?.withFileTypes) {
      const list = await fs.readdir(this.#p(path), { withFileTypes: true });
      return list.filter((d) => !(atRoot && this.#hidden.has(d.name))).sort((x, y) => (x.name < y.name ? -1 : 1));
    }
    const list = await fs.readdir(this.#p(path));
    return list.filter((n) => !(atRoot && this.#hidden.has(n))).sort();
  }
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<string | undefined> {
    return fs.mkdir(this.#p(path), { ...options, mode: options?.mode ?? 0o755 });
  }
  rmdir(path: string): Promise<void> {
    return fs.rmdir(this.#p(path));
  }
  unlink(path: string): Promise<void> {
    return fs.unlink(this.#p(path));
  }
  async rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void> {
    try {
      await fs.rm(this.#p(path), options);
    } catch (error) {
      // node names this one ERR_FS_EISDIR; its errno, and API.md's code, is EISDIR.
      if ((error as { code?: string }).code === 'ERR_FS_EISDIR') Object.assign(error as object, { code: 'EISDIR' });
      throw error;
    }
  }
  rename(from: string, to: string): Promise<void> {
    return fs.rename(this.#p(from), this.#p(to));
  }
  symlink(target: string, path: string): Promise<void> {
    return fs.symlink(target, this.#p(path));
  }
  readlink(path: string): Promise<string> {
    return fs.readlink(this.#p(path));
  }
  link(existing: string, newPath: string): Promise<void> {
    return fs.link(this.#p(existing), this.#p(newPath));
  }
  chmod(path: string, mode: number): Promise<void> {
    return fs.chmod(this.#p(path), mode);
  }
  chown(path: string, uid: number, gid: number): Promise<void> {
    return fs.chown(this.#p(path), uid, gid);
  }
  access(path: string): Promise<void> {
    return fs.access(this.#p(path));
  }
  createReadStream(path: string, options?: { start?: number; end?: number }): NodeJS.ReadableStream {
    return createReadStream(this.#p(path), options);
  }
  createWriteStream(path: string, options?: { start?: number; flags?: OpenFlags }): NodeJS.WritableStream {
    return createWriteStream(this.#p(path), { ...options, mode: 0o644 });
  }
}

/** Just enough of a `Store` for the model's checks: one active snapshot, `s0`, that is the host root. */
export function hostStore(layer: HostLayer, blockSize: number): Store {
  const info: SnapshotInfo = { key: 's0', kind: 'active', labels: {}, created: new Date(0), updated: new Date(0) };
  const unsupported = (): never => {
    throw new Error('the host oracle has one snapshot and no store calls');
  };
  return {
    blockSize,
    dir: undefined,
    mount: async () => layer,
    walk: async function* () {
      yield info;
    },
    stats: async () => ({ blockSize, blocks: Number.MAX_SAFE_INTEGER, storedBytes: Number.MAX_SAFE_INTEGER, snapshots: 1 }),
    prepare: unsupported,
    view: unsupported,
    commit: unsupported,
    remove: unsupported,
    stat: unsupported,
    update: unsupported,
    usage: unsupported,
    diff: unsupported,
    gc: unsupported,
    close: async () => undefined,
  };
}
