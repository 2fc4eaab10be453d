import { createHash } from 'node:crypto';
import type { BlockId } from '../../../../src/core/BlockId.js';
import { assertAgrees, type IndexCommand, type IndexModel, type IndexReal } from '../IndexModel.js';

/** Sets `count` fresh ids (hashes of the seed), to grow the index past its fanout and merge bounds. */
export class SetManyCommand implements IndexCommand {
  constructor(
    readonly seed: number,
    readonly count: number,
    readonly pack: number,
  ) {}

  check(): boolean {
    return true;
  }

  run(m: IndexModel, r: IndexReal): void {
    for (let i = 0; i < this.count; i++) {
      const id = createHash('sha256').update(`${this.seed}/${i}`).digest('hex') as BlockId;
      const location = { pack: this.pack, offset: i * 512, length: i, kind: i % 3 === 0 ? 'node' : 'block' } as const;
      m.set(id, location);
      r.index.set(id, location);
    }
    assertAgrees(m, r);
  }

  toString(): string {
    return `setMany(${this.count} from seed ${this.seed} in pack ${this.pack})`;
  }
}
