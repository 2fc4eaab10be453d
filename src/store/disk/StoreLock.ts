import { readFileSync } from 'node:fs';
import { open, readFile, realpath, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fsError, hasCode } from '../../core/errors.js';

/** Store directories this process holds the writer lock of (by real path). */
const heldHere = new Set<string>();

interface LockOwner {
  pid: number;
  host: string;
  /** The process's start time in clock ticks (Linux /proc), to tell a reused pid from the owner. */
  started: string | undefined;
}

/** The start time of process `pid` from /proc, or undefined where there is no /proc. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** True when the process that wrote `owner` is still running. */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true; // another machine's process: cannot tell, assume alive
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    return !hasCode(error, 'ESRCH');
  }
  const started = processStart(owner.pid);
  return owner.started === undefined || started === undefined || started === owner.started;
}

/**
 * The one-writer lock of a store directory: a `lock` file created with `O_EXCL` that names the
 * owning process. A second writer — another process, or another `openStore` in this one — is
 * refused with `ELOCKED` while the owner lives; a lock whose owner is dead (no such pid, or the pid
 * now belongs to a process started later) is taken over. Read-only opens take no lock.
 */
export class StoreLock {
  readonly #path: string;
  readonly #dir: string;
  #released = false;

  private constructor(dir: string, path: string) {
    this.#dir = dir;
    this.#path = path;
  }

  static async acquire(dir: string): Promise<StoreLock> {
    const real = await realpath(dir);
    if (heldHere.has(real)) throw fsError('ELOCKED', { syscall: 'open', path: dir, detail: 'store is already open for writing in this process' });
    const path = join(real, 'lock');
    const me: LockOwner = { pid: process.pid, host: hostname(), started: processStart(process.pid) };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const file = await open(path, 'wx', 0o644);
        try {
          await file.writeFile(`${JSON.stringify(me)}\n`);
          await file.sync();
        } finally {
          await file.close();
        }
        heldHere.add(real);
        return new StoreLock(real, path);
      } catch (error) {
        if (!hasCode(error, 'EEXIST')) throw error;
      }
      let owner: LockOwner | undefined;
      try {
        owner = JSON.parse(await readFile(path, 'utf8')) as LockOwner;
      } catch {
        owner = undefined; // an empty or torn lock file: its writer died while making it
      }
      if (owner !== undefined && ownerAlive(owner)) {
        throw fsError('ELOCKED', { syscall: 'open', path: dir, detail: `store is locked by process ${owner.pid} on ${owner.host}` });
      }
      await unlink(path).catch((error: unknown) => {
        if (!hasCode(error, 'ENOENT')) throw error;
      });
    }
    throw fsError('ELOCKED', { syscall: 'open', path: dir, detail: 'another process took the lock while a stale one was removed' });
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    heldHere.delete(this.#dir);
    await unlink(this.#path).catch(() => undefined);
  }
}
