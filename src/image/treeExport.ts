import { constants } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, open, readdir, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, hasCode } from '../core/errors.js';
import type { Layer } from '../layer/Layer.js';
import { copyContent } from './copyContent.js';

/** Permission bits applied on the host: setuid, setgid and sticky stay metadata in the snapshot. */
const HOST_MODE_BITS = 0o777;

/**
 * Writes the tree of `layer` into the real directory `dir`, which must be missing or empty:
 * files, directories and symbolic links with their modes (without setuid, setgid and sticky),
 * mtimes, owners (when running as root), and hard links as hard links.
 *
 * It never writes outside `dir`: every entry is created new (`O_EXCL`, `O_NOFOLLOW`), and the only
 * directories it descends into are ones it has just created, so no symbolic link in the snapshot
 * (or planted on the host) is ever followed.
 */
export async function exportTreeFrom(layer: Layer, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw fsError('ENOTEMPTY', { syscall: 'exportTree', path: dir });
  const asRoot = process.getuid?.() === 0;
  const written = new Map<number, string>();
  const copyDir = async (layerDir: string, hostDir: string): Promise<void> => {
    for (const entry of await layer.readdir(layerDir, { withFileTypes: true })) {
      const layerPath = layerDir === '/' ? `/${entry.name}` : `${layerDir}/${entry.name}`;
      const hostPath = join(hostDir, entry.name);
      const stats = await layer.lstat(layerPath);
      if (entry.isDirectory()) {
        await mkdir(hostPath, { mode: 0o700 });
        await copyDir(layerPath, hostPath);
      } else if (entry.isSymbolicLink()) {
        await symlink(await layer.readlink(layerPath), hostPath);
        if (asRoot) await lchown(hostPath, stats.uid, stats.gid);
        await lutimes(hostPath, stats.mtime, stats.mtime);
        continue;
      } else {
        const first = stats.nlink > 1 ? written.get(stats.ino) : undefined;
        if (first !== undefined) {
          await link(first, hostPath);
          continue;
        }
        if (stats.nlink > 1) written.set(stats.ino, hostPath);
        await writeHostFile(layer, layerPath, hostPath);
      }
      await applyMeta(hostPath, stats, asRoot);
    }
  };
  await copyDir('/', dir);
  await applyMeta(dir, await layer.stat('/'), asRoot);
}

async function writeHostFile(layer: Layer, layerPath: string, hostPath: string): Promise<void> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const target = await open(hostPath, flags, 0o600);
  try {
    const source = await layer.open(layerPath, 'r');
    try {
      await copyContent(source, target);
    } finally {
      await source.close();
    }
  } finally {
    await target.close();
  }
}

async function applyMeta(hostPath: string, stats: { mode: number; uid: number; gid: number; mtime: Date }, asRoot: boolean): Promise<void> {
  if (asRoot) {
    try {
      await lchown(hostPath, stats.uid, stats.gid);
    } catch (error) {
      if (!hasCode(error, 'EINVAL')) throw error;
    }
  }
  await chmod(hostPath, stats.mode & HOST_MODE_BITS);
  await utimes(hostPath, stats.mtime, stats.mtime);
}
