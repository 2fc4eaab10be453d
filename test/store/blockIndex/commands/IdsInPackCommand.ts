import { expect } from 'vitest';
import type { IndexCommand, IndexModel, IndexReal } from '../IndexModel.js';

/** `idsInPack(pack)`: the held ids located in the pack, in any order. */
export class IdsInPackCommand implements IndexCommand {
  constructor(readonly pack: number) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    const expected = [...m.entries].filter(([, location]) => location.pack === this.pack).map(([id]) => id);
    expect(r.index.idsInPack(this.pack).sort()).toEqual(expected.sort());
  }

  toString(): string {
    return `idsInPack(${this.pack})`;
  }
}
