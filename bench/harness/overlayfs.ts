import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scratch } from './scratch.js';

/**
 * The Linux kernel's overlayfs, the peer of the copy-on-write figures: a lower directory holding
 * the files, an empty upper directory and work directory per mount, mounted with
 * `mount -t overlay overlay -o lowerdir=…,upperdir=…,workdir=… MERGED` and unmounted after.
 */
export class Overlayfs {
  readonly lower: string;
  readonly #scratch: Scratch;

  private constructor(scratch: Scratch, lower: string) {
    this.#scratch = scratch;
    this.lower = lower;
  }

  /** Why overlayfs cannot be mounted here, or undefined when it can (a trial mount succeeded). */
  static unavailable(scratch: Scratch): string | undefined {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    if (process.getuid?.() !== 0) return 'mounting needs root';
    let filesystems = '';
    try {
      filesystems = readFileSync('/proc/filesystems', 'utf8');
    } catch (error) {
      return `cannot read /proc/filesystems (${(error as Error).message})`;
    }
    if (!/\boverlay\b/.test(filesystems)) return 'the kernel has no overlay file system (not in /proc/filesystems)';
    const trial = new Overlayfs(scratch, scratch.dir('overlay-trial'));
    try {
      trial.mount().unmount();
      return undefined;
    } catch (error) {
      return (error as Error).message;
    } finally {
      scratch.remove(trial.lower);
    }
  }

  /** An overlay whose lower directory is a new scratch directory; put its files in with `writeLower`. */
  static create(scratch: Scratch): Overlayfs {
    return new Overlayfs(scratch, scratch.dir('overlay-lower'));
  }

  /** Writes `data` as `name` in the lower directory, fsynced, so copy-up reads a settled file. */
  writeLower(name: string, data: Uint8Array): string {
    const path = join(this.lower, name);
    writeFileSync(path, data, { flush: true });
    return path;
  }

  /** Mounts a fresh overlay (empty upper and work directories) over the lower directory. */
  mount(): OverlayMount {
    const base = this.#scratch.dir('overlay');
    const upper = join(base, 'upper');
    const work = join(base, 'work');
    const merged = join(base, 'merged');
    for (const dir of [upper, work, merged]) mkdirSync(dir);
    const result = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${this.lower},upperdir=${upper},workdir=${work}`, merged], { encoding: 'utf8' });
    if (result.status !== 0) {
      this.#scratch.remove(base);
      throw new Error(`mount -t overlay failed: ${(result.stderr || result.error?.message || `status ${result.status}`).trim()}`);
    }
    this.#scratch.mounted(merged);
    return {
      merged,
      upper,
      unmount: () => {
        const out = spawnSync('umount', [merged], { encoding: 'utf8' });
        if (out.status !== 0) throw new Error(`umount ${merged} failed: ${out.stderr.trim()}`);
        this.#scratch.unmounted(merged);
        this.#scratch.remove(base);
      },
    };
  }
}

export interface OverlayMount {
  readonly merged: string;
  readonly upper: string;
  /** Unmounts and removes the upper, work and merged directories. */
  unmount(): void;
}
