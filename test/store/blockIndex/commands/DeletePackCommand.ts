import { expect } from 'vitest';
import { assertAgrees, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';

/** `deletePack(pack)`: drops every entry in the pack and counts them. */
export class DeletePackCommand implements IndexCommand {
  constructor(readonly pack: number) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    let expected = 0;
    for (const [id, location] of m.entries) {
      if (location.pack === this.pack) {
        m.delete(id);
        expected++;
      }
    }
    expect(r.index.deletePack(this.pack)).toBe(expected);
    assertAgrees(m, r);
  }

  toString(): string {
    return `deletePack(${this.pack})`;
  }
}
