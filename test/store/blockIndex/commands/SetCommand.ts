import type { RecordLocation } from '../../../../src/store/disk/BlockIndex.js';
import { assertAgrees, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';
import type { IdRef } from './IdRef.js';

/** `set(id, location)`: adds a new id, or replaces the location of one held (live or deleted). */
export class SetCommand implements IndexCommand {
  constructor(
    readonly target: IdRef,
    readonly location: RecordLocation,
  ) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    const id = this.target.resolve(m);
    m.set(id, this.location);
    r.index.set(id, this.location);
    assertAgrees(m, r);
  }

  toString(): string {
    const { pack, offset, length, kind } = this.location;
    return `set(${this.target}, ${pack}:${offset}+${length} ${kind})`;
  }
}
