import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError } from '../core/errors.js';
import type { Layer } from '../layer/Layer.js';
import { copyContent } from './copyContent.js';

/**
 * Copies the real directory `dir` into `layer`, below `/`: regular files, directories and
 * symbolic links with their modes (setuid, setgid and sticky included), owners and mtimes, and
 * hard links as hard links (one inode, several names). Sockets, FIFOs and devices reject with
 * `EINVAL` naming the entry, as does a name the layer cannot hold (`.wh.…`).
 *
 * The host tree is read, never followed: a symbolic link is copied as a link, with its owner and
 * mtime.
 */
export async function importTreeInto(layer: Layer, dir: string, onFile?: (bytes: number) => void): Promise<void> {
  const root = await lstat(dir);
  if (!root.isDirectory()) throw fsError('ENOTDIR', { syscall: 'importTree', path: dir });
  const seenInodes = new Map<string, string>();
  const copyDir = async (hostDir: string, layerDir: string): Promise<void> => {
    const names = (await readdir(hostDir)).sort();
    for (const name of names) {
      const hostPath = join(hostDir, name);
      const layerPath = layerDir === '/' ? `/${name}` : `${layerDir}/${name}`;
      const stats = await lstat(hostPath);
      if (stats.isDirectory()) {
        await layer.mkdir(layerPath, { mode: stats.mode & 0o7777 });
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
        await copyFile(layer, hostPath, layerPath, stats.mode & 0o7777);
        await copyMeta(layer, layerPath, stats);
        onFile?.(stats.size);
      } else {
        throw fsError('EINVAL', { syscall: 'importTree', path: hostPath, detail: 'sockets, FIFOs and device nodes cannot be imported' });
      }
    }
  };
  await copyDir(dir, '/');
  await copyMeta(layer, '/', root);
}

async function copyFile(layer: Layer, hostPath: string, layerPath: string, mode: number): Promise<void> {
  const source = await open(hostPath, 'r');
  try {
    const target = await layer.open(layerPath, 'wx', mode);
    try {
      await copyContent(source, target);
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
