import { expect } from 'vitest';
import type { IndexCommand, IndexModel, IndexReal } from '../IndexModel.js';
import type { IdRef } from './IdRef.js';

/** `get(id)` and `has(id)` of an id held or not. */
export class GetCommand implements IndexCommand {
  constructor(readonly target: IdRef) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    const id = this.target.resolve(m);
    expect(r.index.get(id)).toEqual(m.entries.get(id));
    expect(r.index.has(id)).toBe(m.entries.has(id));
  }

  toString(): string {
    return `get(${this.target})`;
  }
}
