import { fsError, hasCode } from '../../core/errors.js';
import type { SnapshotInfo, Store } from '../../snapshots/Store.js';
import type { Digest } from '../digest.js';
import type { HistoryEntry } from './documents.js';
import { LABEL_DIFF_ID, LABEL_HISTORY } from './labels.js';

/**
 * What importing an image (from disk or a registry) asks of the snapshot a layer's chain ID names.
 * True when the store has `key` as a committed snapshot on `parent`, to be reused as it is; false
 * when it has no `key`; `EINVAL` (with `syscall`) when `key` is some other snapshot.
 */
export async function hasChainLayer(store: Store, key: Digest, parent: Digest | undefined, syscall: string): Promise<boolean> {
  let info: SnapshotInfo;
  try {
    info = await store.stat(key);
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return false;
    throw error;
  }
  if (info.kind === 'committed' && info.parent === parent) return true;
  const detail = `snapshot '${key}' exists but is not a committed snapshot on ${parent ?? 'nothing'}: it cannot be this image's layer`;
  throw fsError('EINVAL', { syscall, path: key, detail });
}

/**
 * True when applying the layer `key` failed with `EEXIST` because another import or pull
 * committed the same chain ID meanwhile (on the same `parent`): that snapshot is as good.
 */
export async function committedMeanwhile(error: unknown, store: Store, key: Digest, parent: Digest | undefined, syscall: string): Promise<boolean> {
  return hasCode(error, 'EEXIST') && hasChainLayer(store, key, parent, syscall);
}

/** The labels of a chain layer's snapshot: its diffID (`LABEL_DIFF_ID`) and its history entry. */
export function layerLabels(entry: HistoryEntry | undefined, diffId: Digest): Record<string, string> {
  return { ...historyLabels(entry), [LABEL_DIFF_ID]: diffId };
}

/** The labels of a layer's history entry (`LABEL_HISTORY`): one per field present. */
function historyLabels(entry: HistoryEntry | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const field of ['created', 'created_by', 'author', 'comment'] as const) {
    const value = entry?.[field];
    if (value !== undefined) labels[LABEL_HISTORY[field]] = value;
  }
  return labels;
}
