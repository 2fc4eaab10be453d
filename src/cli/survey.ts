import { hasCode } from '../core/errors.js';
import type { Store } from '../index.js';

/** The regular files of a snapshot that a diff lists. */
export interface FileSurvey {
  /** Distinct files (an inode with several names counts once). */
  readonly files: number;
  /** Their logical bytes: sizes as `stat` gives them, holes included. */
  readonly bytes: number;
  /** The largest of them; undefined when there is none. */
  readonly largest: { readonly path: string; readonly size: number } | undefined;
}

/**
 * The regular files `store.diff(key, base)` lists as added or modified, read from snapshot `key`.
 * With `base` null that is every file of the snapshot (its logical size); with `base` undefined,
 * the files it added or changed against its parent — what a layer of whole files (overlay2's
 * upper directory, an OCI layer) holds for it.
 */
export async function surveyFiles(store: Store, key: string, base?: string | null, signal?: AbortSignal): Promise<FileSurvey> {
  const layer = await store.mount(key);
  const seen = new Set<number>();
  let files = 0;
  let bytes = 0;
  let largest: { path: string; size: number } | undefined;
  for await (const change of store.diff(key, base)) {
    signal?.throwIfAborted();
    if (change.kind === 'deleted') continue;
    const stats = await layer.lstat(change.path);
    if (!stats.isFile() || seen.has(stats.ino)) continue;
    seen.add(stats.ino);
    files++;
    bytes += stats.size;
    if (largest === undefined || stats.size > largest.size) largest = { path: change.path, size: stats.size };
  }
  return { files, bytes, largest };
}

/**
 * `store.usage(key).size`, or null when the snapshot's stored tree cannot be read (`EINTEGRITY`):
 * listings still list a damaged snapshot, so that it can be found and removed.
 */
export async function sizeOrDamaged(store: Store, key: string): Promise<number | null> {
  try {
    return (await store.usage(key)).size;
  } catch (error) {
    if (hasCode(error, 'EINTEGRITY')) return null;
    throw error;
  }
}
