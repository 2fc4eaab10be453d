import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { link, open, readdir, readFile, realpath, stat, unlink } from 'node:fs/promises';
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

/** How long a takeover may hold its token before another process may assume its taker died. */
const TAKEOVER_STALE_MS = 10_000;
/** Attempts before giving up while other processes are taking a stale lock over. */
const ATTEMPTS = 200;

/**
 * The one-writer lock of a store directory: a `lock` file created exclusively that names the
 * owning process. A second writer — another process, or another `openStore` in this one — is
 * refused with `ELOCKED` while the owner lives; a lock whose owner is dead (no such pid, or the pid
 * now belongs to a process started later) is taken over. Read-only opens take no lock.
 *
 * The lock file appears whole or not at all (written aside, then hard-linked into place), so a
 * process that finds one unreadable knows its writer is not still writing it.
 *
 * Taking over is serialized: only the holder of `lock.takeover` (itself created the same way)
 * may remove a stale lock, and only after reading it again, under the token, and finding the same
 * dead owner; a lock found gone is never removed (its successor may be appearing that instant), so
 * two processes can never both remove a lock and both create one. A token left by a taker that died
 * mid-takeover is removed once older than `TAKEOVER_STALE_MS`.
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
    const token = join(real, 'lock.takeover');
    const me: LockOwner = { pid: process.pid, host: hostname(), started: processStart(process.pid) };
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (await createExclusive(path, me)) {
        heldHere.add(real);
        await removeStrayTemporaries(real);
        return new StoreLock(real, path);
      }
      const owner = await readOwner(path);
      if (owner === 'gone') continue;
      if (owner !== undefined && ownerAlive(owner)) {
        throw fsError('ELOCKED', { syscall: 'open', path: dir, detail: `store is locked by process ${owner.pid} on ${owner.host}` });
      }
      // Stale (or torn: its writer died while making it). Take it over, one taker at a time.
      if (!(await createExclusive(token, me))) {
        await removeIfStale(token);
        await delay(5 + Math.random() * 20);
        continue;
      }
      try {
        // Remove only the very lock judged stale: while this token is held nobody else removes
        // it, and its dead owner cannot. A lock gone meanwhile is left alone: another process may
        // be creating its own in its place this instant, and that one must not be removed.
        const again = await readOwner(path);
        if (again !== 'gone' && JSON.stringify(again) === JSON.stringify(owner)) {
          await unlink(path).catch((error: unknown) => {
            if (!hasCode(error, 'ENOENT')) throw error;
          });
        }
      } finally {
        await unlink(token).catch(() => undefined);
      }
    }
    throw fsError('ELOCKED', { syscall: 'open', path: dir, detail: 'other processes kept taking the lock over' });
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    heldHere.delete(this.#dir);
    await unlink(this.#path).catch(() => undefined);
  }
}

/**
 * Creates `path` holding `owner`, atomically: the owner is written and fsynced in a file of this
 * process's own, which is then hard-linked to `path` (`link(2)` fails with `EEXIST` when `path`
 * exists, as `O_EXCL` would). So no process ever reads a lock that is being written: an empty or
 * torn one was left by damage, not by a writer still at work. False when `path` exists.
 */
async function createExclusive(path: string, owner: LockOwner): Promise<boolean> {
  const temporary = `${path}.${process.pid}.${randomUUID()}`;
  const file = await open(temporary, 'wx', 0o644);
  try {
    await file.writeFile(`${JSON.stringify(owner)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    if (hasCode(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** Removes the files `createExclusive` writes aside (`lock.PID.UUID`, `lock.takeover.PID.UUID`) that dead processes left. */
async function removeStrayTemporaries(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = /^lock(?:\.takeover)?\.(\d+)\.[0-9a-f-]{36}$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    if (ownerAlive({ pid: Number(pid), host: hostname(), started: undefined })) continue;
    await unlink(join(dir, name)).catch(() => undefined);
  }
}

/** The owner a lock file names; undefined when it is torn; 'gone' when there is no file. */
async function readOwner(path: string): Promise<LockOwner | undefined | 'gone'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return 'gone';
    throw error;
  }
  try {
    return JSON.parse(text) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Removes a takeover token older than `TAKEOVER_STALE_MS`: its taker died mid-takeover. */
async function removeIfStale(token: string): Promise<void> {
  try {
    if (Date.now() - (await stat(token)).mtimeMs > TAKEOVER_STALE_MS) await unlink(token);
  } catch {
    // Gone already, or removed by another process: either way, try again.
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
