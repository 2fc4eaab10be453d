import type { BlockId } from '../../../../src/core/BlockId.js';
import type { IndexModel } from '../IndexModel.js';

/**
 * Which id a command uses, resolved when it runs: the `pick`-th (modulo their number) of the ids
 * the model holds (so that deletes and replacements hit), or of the `pick % 4`-th most recently
 * deleted (so that deleted ones come back, often before a merge dropped them), or a literal id,
 * most often a new one.
 */
export class IdRef {
  constructor(
    readonly from: 'held' | 'deleted' | 'literal',
    readonly pick: number,
    readonly literal: BlockId,
  ) {}

  resolve(m: Readonly<IndexModel>): BlockId {
    if (this.from === 'deleted') return m.deleted.at(-1 - (this.pick % Math.min(4, m.deleted.length))) ?? this.literal;
    const ids = this.from === 'held' ? [...m.entries.keys()] : [];
    return ids.length === 0 ? this.literal : ids[this.pick % ids.length]!;
  }

  toString(): string {
    return this.from === 'literal' ? this.literal.slice(0, 12) : `${this.from}#${this.pick}|${this.literal.slice(0, 12)}`;
  }
}
