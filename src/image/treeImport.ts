import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, unlessMissing } from '../core/errors.js';
import type { Layer } from '../layer/Layer.js';
import type { LongOperation } from '../snapshots/Store.js';
import { copyContent } from './copyContent.js';

/**
 * Makes `layer`'s tree the real directory `dir`'s: on a layer that holds entries already (a
 * snapshot prepared on a parent), what `dir` lacks is removed, what differs in type is replaced,
 * directories on both sides are merged, so the snapshot ends up exactly `dir` and its diff
 * against the parent is what changed. Copied: regular files, directories and
 * symbolic links with their modes (setuid, setgid and sticky included), owners and mtimes, and
 * hard links as hard links (one inode, several names). Sockets, FIFOs and devices reject with
 * `EINVAL` naming the entry, as does a name the layer cannot hold (`.wh.…`).
 *
 * The host tree is read, never followed: a symbolic link is copied as a link, with its owner and
 * mtime. `signal` is checked between entries and chunks; `onProgress` reports bytes of file
 * content written, against the total found by a first walk.
 */
export async function importTreeInto(layer: Layer, dir: string, options: LongOperation = {}): Promise<void> {
  const { signal, onProgress } = options;
  const root = await lstat(dir);
  if (!root.isDirectory()) throw fsError('ENOTDIR', { syscall: 'importTree', path: dir });
  const total = onProgress === undefined ? undefined : await contentBytes(dir, signal);
  let done = 0;
  onProgress?.({ done, ...(total === undefined ? {} : { total }), unit: 'bytes' });
  const progress = (bytes: number): void => {
    done += bytes;
    onProgress?.({ done, ...(total === undefined ? {} : { total }), unit: 'bytes' });
  };
  const seenInodes = new Map<string, string>();
  const copyDir = async (hostDir: string, layerDir: string): Promise<void> => {
    const names = (await readdir(hostDir)).sort();
    const pathOf = (name: string): string => (layerDir === '/' ? `/${name}` : `${layerDir}/${name}`);
    const hostNames = new Set(names);
    for (const name of await layer.readdir(layerDir)) {
      if (!hostNames.has(name)) await layer.rm(pathOf(name), { recursive: true });
    }
    for (const name of names) {
      signal?.throwIfAborted();
      const hostPath = join(hostDir, name);
      const layerPath = pathOf(name);
      const stats = await lstat(hostPath);
      const there = await unlessMissing(layer.lstat(layerPath));
      const mergeable = there?.isDirectory() === true && stats.isDirectory();
      if (there !== undefined && !mergeable) await layer.rm(layerPath, { recursive: true });
      if (stats.isDirectory()) {
        if (!mergeable) await layer.mkdir(layerPath, { mode: stats.mode & 0o7777 });
        await copyDir(hostPath, layerPath);
        await copyMeta(layer, layerPath, stats);
      } else if (stats.isSymbolicLink()) {
        await layer.symlink(await readlink(hostPath), layerPath);
        await layer.lchown(layerPath, stats.uid, stats.gid);
        await layer.lutimes(layerPath, stats.atime, stats.mtime);
      } else if (stats.isFile()) {
        const inode = `${stats.dev}:${stats.ino}`;
        const first = stats.nlink > 1 ? seenInodes.get(inode) : undefined;
        if (first !== undefined) {
          await layer.link(first, layerPath);
          continue;
        }
        if (stats.nlink > 1) seenInodes.set(inode, layerPath);
        await copyFile(layer, hostPath, layerPath, stats.mode & 0o7777, progress, signal);
        await copyMeta(layer, layerPath, stats);
      } else {
        throw fsError('EINVAL', { syscall: 'importTree', path: hostPath, detail: 'sockets, FIFOs and device nodes cannot be imported' });
      }
    }
  };
  await copyDir(dir, '/');
  await copyMeta(layer, '/', root);
}

async function copyFile(
  layer: Layer, hostPath: string, layerPath: string, mode: number, progress: (bytes: number) => void, signal: AbortSignal | undefined,
): Promise<void> {
  const source = await open(hostPath, 'r');
  try {
    const target = await layer.open(layerPath, 'wx', mode);
    try {
      await copyContent(source, target, (bytes) => {
        signal?.throwIfAborted();
        progress(bytes);
      });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function copyMeta(layer: Layer, path: string, stats: { mode: number; uid: number; gid: number; mtime: Date; atime: Date }): Promise<void> {
  await layer.chmod(path, stats.mode & 0o7777);
  await layer.chown(path, stats.uid, stats.gid);
  await layer.utimes(path, stats.atime, stats.mtime);
}

/** Bytes of the regular files below `dir`, each inode once: the `total` of the progress reports. */
async function contentBytes(dir: string, signal: AbortSignal | undefined): Promise<number> {
  const seen = new Set<string>();
  let bytes = 0;
  const visit = async (path: string): Promise<void> => {
    signal?.throwIfAborted();
    for (const entry of await readdir(path, { withFileTypes: true })) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) {
        await visit(child);
      } else if (entry.isFile()) {
        const stats = await lstat(child);
        const inode = `${stats.dev}:${stats.ino}`;
        if (stats.nlink > 1 && seen.has(inode)) continue;
        seen.add(inode);
        bytes += stats.size;
      }
    }
  };
  await visit(dir);
  return bytes;
}
