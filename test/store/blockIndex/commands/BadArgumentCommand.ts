import { expect } from 'vitest';
import type { BlockId } from '../../../../src/core/BlockId.js';
import type { BlockIndex, RecordLocation } from '../../../../src/store/disk/BlockIndex.js';
import { assertAgrees, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';

const SOME_ID = 'ab'.repeat(32) as BlockId;
const GOOD: RecordLocation = { pack: 1, offset: 0, length: 1, kind: 'block' };

/** A programmer's mistake for each method: each is a plain `TypeError` and changes nothing. */
export const BAD_CALLS: Record<string, (index: BlockIndex) => unknown> = {
  'set(uppercase id)': (index) => index.set('AB'.repeat(32) as BlockId, GOOD),
  'set(short id)': (index) => index.set('ab' as BlockId, GOOD),
  'set(non-hex id)': (index) => index.set(`${'ab'.repeat(31)}xz` as BlockId, GOOD),
  'set(pack -1)': (index) => index.set(SOME_ID, { ...GOOD, pack: -1 }),
  'set(pack 2^32)': (index) => index.set(SOME_ID, { ...GOOD, pack: 2 ** 32 }),
  'set(offset 1.5)': (index) => index.set(SOME_ID, { ...GOOD, offset: 1.5 }),
  'set(length 2^31)': (index) => index.set(SOME_ID, { ...GOOD, length: 2 ** 31 }),
  'set(kind tree)': (index) => index.set(SOME_ID, { ...GOOD, kind: 'tree' as 'node' }),
  'get(number)': (index) => index.get(42 as unknown as BlockId),
  'delete(empty)': (index) => index.delete('' as BlockId),
  'deletePack(NaN)': (index) => index.deletePack(Number.NaN),
  'idsInPack(-1)': (index) => index.idsInPack(-1),
};

export class BadArgumentCommand implements IndexCommand {
  constructor(readonly call: keyof typeof BAD_CALLS) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    expect(() => BAD_CALLS[this.call]!(r.index)).toThrow(TypeError);
    assertAgrees(m, r);
  }

  toString(): string {
    return this.call;
  }
}
