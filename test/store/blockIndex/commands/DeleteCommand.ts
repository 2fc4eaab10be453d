import { expect } from 'vitest';
import { assertAgrees, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';
import type { IdRef } from './IdRef.js';

/** `delete(id)`: true when it was held; a second delete of one id answers false. */
export class DeleteCommand implements IndexCommand {
  constructor(readonly target: IdRef) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    const id = this.target.resolve(m);
    expect(r.index.delete(id)).toBe(m.delete(id));
    expect(r.index.has(id)).toBe(false);
    assertAgrees(m, r);
  }

  toString(): string {
    return `delete(${this.target})`;
  }
}
