import { expect } from 'vitest';
import { BlockIndex } from '../../../../src/store/disk/BlockIndex.js';
import { assertAgrees, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';

/** Saves the index and reads it back, as the store does on close and open; the copy carries on. */
export class ReopenCommand implements IndexCommand {
  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    const bytes = r.index.encode();
    r.index = BlockIndex.decode(bytes, r.options);
    assertAgrees(m, r);
    expect(Buffer.from(r.index.encode()).equals(Buffer.from(bytes))).toBe(true);
  }

  toString(): string {
    return 'reopen()';
  }
}
