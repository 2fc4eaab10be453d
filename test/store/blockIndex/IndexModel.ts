import type fc from 'fast-check';
import { expect } from 'vitest';
import type { BlockId } from '../../../src/core/BlockId.js';
import type { BlockIndex, BlockIndexOptions, RecordLocation } from '../../../src/store/disk/BlockIndex.js';

/** The model of a `BlockIndex`: a plain `Map`, obviously right. */
export class IndexModel {
  readonly entries = new Map<BlockId, RecordLocation>();
  /** Ids deleted and not set since, latest last: setting one again revives a dead entry. */
  readonly deleted: BlockId[] = [];

  set(id: BlockId, location: RecordLocation): void {
    const at = this.deleted.indexOf(id);
    if (at >= 0) this.deleted.splice(at, 1);
    this.entries.set(id, location);
  }

  delete(id: BlockId): boolean {
    if (!this.entries.delete(id)) return false;
    this.deleted.push(id);
    return true;
  }
}

/** The index under test; `ReopenCommand` replaces it by its own encode → decode. */
export interface IndexReal {
  index: BlockIndex;
  readonly options: BlockIndexOptions;
}

export type IndexCommand = fc.Command<IndexModel, IndexReal>;

/**
 * The index answers as the model for every id the model holds, through `get`, `has` and `size`
 * only: these never restructure the index, so the pending buffer stays as the commands left it.
 */
export function assertAgrees(m: Readonly<IndexModel>, r: IndexReal): void {
  expect(r.index.size).toBe(m.entries.size);
  for (const [id, location] of m.entries) {
    expect(r.index.get(id), id).toEqual(location);
    expect(r.index.has(id)).toBe(true);
  }
}

/** Ids in the order an index file and `entries()` list them: by bytes, which lowercase hex sorts alike. */
export function byId<T>(a: [BlockId, T], b: [BlockId, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
