import type { SnapshotKind } from '../api.js';
import { assertEqual } from '../outcome.js';
import type { StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';

export interface WalkFilter {
  kind?: SnapshotKind;
  parent?: string;
  labels?: Record<string, string>;
}

/**
 * `walk(filter)`: exactly the snapshots matching every given field (each given label pair must
 * match). A snapshot whose labels the model does not know may be listed or not under a label filter.
 */
export class WalkCommand implements UnionCommand {
  constructor(readonly filter: WalkFilter) {}

  check(): boolean {
    return true;
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const listed: string[] = [];
    for await (const info of r.store.walk(this.filter)) listed.push(info.key);
    listed.sort();
    const must: string[] = [];
    const may: string[] = [];
    for (const s of m.snapshots.values()) {
      if (this.filter.kind !== undefined && s.kind !== this.filter.kind) continue;
      if (this.filter.parent !== undefined && s.parent !== this.filter.parent) continue;
      const wanted = Object.entries(this.filter.labels ?? {});
      if (wanted.length > 0 && s.labels === undefined) {
        may.push(s.key);
        continue;
      }
      if (wanted.every(([k, v]) => s.labels?.[k] === v)) must.push(s.key);
    }
    assertEqual(this.toString(), listed.filter((k) => !may.includes(k)), must.sort());
    await assertSameStores(m, r);
  }

  toString(): string {
    return `walk(${JSON.stringify(this.filter)})`;
  }
}
