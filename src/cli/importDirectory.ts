import { randomUUID } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LongOperation, SnapshotInfo, Store } from '../index.js';
import { checkFree } from '../image/layerImport.js';
import { importTreeInto } from '../image/treeImport.js';
import { ScopedLayer } from './ScopedLayer.js';

/**
 * `store.importTree(key, parent, dir)` as a long operation: the same walk (`importTreeInto`) in
 * the same way (a temporary active snapshot committed as `key` at the end, removed on any
 * failure, so nothing is committed unless everything is), with a signal checked before every
 * layer call and progress in bytes of file content written. `importTree` takes no
 * `LongOperation` options yet; once it does, this is that call.
 */
export async function importDirectory(store: Store, key: string, parent: string | undefined, dir: string, options: LongOperation = {}): Promise<SnapshotInfo> {
  const { signal, onProgress } = options;
  await checkFree(store, key);
  const total = await contentBytes(dir, signal);
  const work = `${key}@import-${randomUUID()}`;
  const layer = await store.prepare(work, parent);
  try {
    let done = 0;
    onProgress?.({ done, total, unit: 'bytes' });
    const onWrite = (bytes: number): void => {
      done += bytes;
      onProgress?.({ done, total, unit: 'bytes' });
    };
    await importTreeInto(new ScopedLayer(layer, '/', { ...(signal === undefined ? {} : { signal }), onWrite }), dir);
    signal?.throwIfAborted();
    return await store.commit(key, work);
  } catch (error) {
    await store.remove(work).catch(() => undefined);
    throw error;
  }
}

/** Bytes of the regular files below `dir`, each inode once: the total of the progress bar. */
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
