import fc from 'fast-check';
import type { Layer } from '../api.js';
import type { Bytes } from '../arbitraries.js';
import { assertEqual, assertOutcome, attempt, type Outcome } from '../outcome.js';
import type { ReferenceFs } from '../ReferenceFs.js';
import type { Access, StoreModel, UnionCommand, UnionReal } from '../StoreModel.js';
import { assertSameStores } from '../tree.js';
import { fresh, type LayerRef, type PathRef } from './refs.js';

export type ConcurrentOp =
  | { kind: 'writeFile'; path: PathRef; data: Bytes }
  | { kind: 'appendFile'; path: PathRef; data: Bytes }
  | { kind: 'truncate'; path: PathRef; len: number }
  | { kind: 'mkdir'; path: PathRef }
  | { kind: 'rm'; path: PathRef }
  | { kind: 'rename'; path: PathRef; to: PathRef }
  | { kind: 'readFile'; path: PathRef };

interface Bound {
  label: string;
  access: Access;
  model(fs: ReferenceFs): unknown;
  real(layer: Layer): Promise<unknown>;
}

/**
 * Several calls on one layer issued at once, none awaited before the next is made: API.md says
 * "calls on one layer take effect in the order they were made", so each must answer as if they
 * had run one after the other in that order, and the tree must end as the model's.
 */
export class ConcurrentCommand implements UnionCommand {
  #labels: string[] | undefined;

  constructor(
    readonly layer: LayerRef,
    readonly ops: readonly ConcurrentOp[],
  ) {}

  [fc.cloneMethod](): ConcurrentCommand {
    return new ConcurrentCommand(
      fresh(this.layer),
      this.ops.map((op) => ({ ...op, path: fresh(op.path), ...('to' in op ? { to: fresh(op.to) } : {}) }) as ConcurrentOp),
    );
  }

  check(m: Readonly<StoreModel>): boolean {
    return this.layer.exists(m);
  }

  async run(m: StoreModel, r: UnionReal): Promise<void> {
    const { handle, layer } = this.layer.pick(m, r);
    const fs = m.live(handle)?.fs;
    // Paths resolve against the tree as it is before the batch: the batch is one command.
    const bound = this.ops.map((op) => bind(op, fs));
    this.#labels = bound.map((b) => b.label);
    const pending: Promise<Outcome<unknown>>[] = bound.map((b) => attempt(() => b.real(layer)));
    const expected = bound.map((b) => m.onLayer(handle, b.access, (tree) => b.model(tree)));
    const actual = await Promise.all(pending);
    bound.forEach((b, i) => {
      const label = `${this.layer}.${b.label} (call ${i + 1} of ${bound.length} issued at once)`;
      assertOutcome(label, expected[i]!, actual[i]!, (got, want) => assertEqual(label, got, want));
    });
    await assertSameStores(m, r);
  }

  toString(): string {
    const labels = this.#labels ?? this.ops.map((op) => op.kind);
    return `${this.layer}.[${labels.join(', ')}] at once`;
  }
}

function bind(op: ConcurrentOp, fs: ReferenceFs | undefined): Bound {
  const path = op.path.resolve(fs);
  const p = JSON.stringify(path);
  switch (op.kind) {
    case 'writeFile': {
      const bytes = op.data.make();
      return { label: `writeFile(${p}, ${op.data})`, access: 'write', model: (t) => t.writeFile(path, bytes), real: (l) => l.writeFile(path, bytes) };
    }
    case 'appendFile': {
      const bytes = op.data.make();
      return { label: `appendFile(${p}, ${op.data})`, access: 'write', model: (t) => t.appendFile(path, bytes), real: (l) => l.appendFile(path, bytes) };
    }
    case 'truncate':
      return { label: `truncate(${p}, ${op.len})`, access: 'write', model: (t) => t.truncate(path, op.len), real: (l) => l.truncate(path, op.len) };
    case 'mkdir':
      return { label: `mkdir(${p})`, access: 'write', model: (t) => t.mkdir(path), real: async (l) => { await l.mkdir(path); } };
    case 'rm':
      return {
        label: `rm(${p}, { recursive: true, force: true })`,
        access: 'write-may-noop',
        model: (t) => t.rm(path, { recursive: true, force: true }),
        real: (l) => l.rm(path, { recursive: true, force: true }),
      };
    case 'rename': {
      const to = op.to.resolve(fs);
      return { label: `rename(${p}, ${JSON.stringify(to)})`, access: 'write', model: (t) => t.rename(path, to), real: (l) => l.rename(path, to) };
    }
    case 'readFile':
      return { label: `readFile(${p})`, access: 'read', model: (t) => t.readFile(path), real: (l) => l.readFile(path) };
  }
}
