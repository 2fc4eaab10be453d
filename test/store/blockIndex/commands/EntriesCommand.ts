import { expect } from 'vitest';
import { byId, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';

/** `entries()`: every held entry, once, in id order (it merges the pending buffer first). */
export class EntriesCommand implements IndexCommand {
  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    expect([...r.index.entries()]).toEqual([...m.entries].sort(byId));
  }

  toString(): string {
    return 'entries()';
  }
}
