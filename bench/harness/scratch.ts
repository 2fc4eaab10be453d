import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Temporary directories and mounts of a run: made under the settings' temp dir, named
 * `cowstack-bench-*`, and removed (mounts unmounted first) when the scenario ends — and, should
 * the process be interrupted, on exit.
 */
export class Scratch {
  readonly #root: string;
  readonly #dirs = new Set<string>();
  readonly #mounts = new Set<string>();

  constructor(root: string) {
    this.#root = root;
  }

  /** A new empty directory. */
  dir(label: string): string {
    const dir = mkdtempSync(join(this.#root, `cowstack-bench-${label}-`));
    this.#dirs.add(dir);
    return dir;
  }

  /** Removes a directory made by `dir` now. */
  remove(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
    this.#dirs.delete(dir);
  }

  /** Records a mount point so that cleanup unmounts it. */
  mounted(point: string): void {
    this.#mounts.add(point);
  }

  unmounted(point: string): void {
    this.#mounts.delete(point);
  }

  /** Unmounts what is still mounted and removes every directory; synchronous, so it can run on exit. */
  cleanup(): void {
    for (const point of this.#mounts) spawnSync('umount', [point], { stdio: 'ignore' });
    this.#mounts.clear();
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    this.#dirs.clear();
  }
}
