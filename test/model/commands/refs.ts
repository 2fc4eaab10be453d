import type { Layer, SnapshotKind } from '../api.js';
import { KEYS, NAMES } from '../arbitraries.js';
import type { ReferenceFs } from '../ReferenceFs.js';
import type { ModelHandle, StoreModel, UnionReal } from '../StoreModel.js';

/**
 * Which open layer a command uses, resolved against the run's state when it runs: with `live`,
 * the index-th layer among those whose snapshot still exists (most commands); otherwise among
 * all the layers opened, dead ones included (which must answer EBADF). Printed as `L<n>`, the
 * position in the run's list of layers (`L0` is `s0`'s, each prepare/view/mount appends one).
 */
export class LayerRef {
  #last: number | undefined;

  constructor(
    readonly index: number,
    readonly live: boolean,
  ) {}

  #candidates(m: Readonly<StoreModel>): number[] {
    const all = m.handles.map((_, i) => i);
    return this.live ? all.filter((i) => m.live(m.handles[i]!) !== undefined) : all;
  }

  clone(): LayerRef {
    return new LayerRef(this.index, this.live);
  }

  exists(m: Readonly<StoreModel>): boolean {
    return this.#candidates(m).length > 0;
  }

  /** The handle `pick` would use now, without recording it. */
  peek(m: Readonly<StoreModel>): ModelHandle | undefined {
    const candidates = this.#candidates(m);
    return candidates.length === 0 ? undefined : m.handles[candidates[this.index % candidates.length]!];
  }

  pick(m: StoreModel, r: UnionReal): { handle: ModelHandle; layer: Layer } {
    const candidates = this.#candidates(m);
    const i = candidates[this.index % candidates.length]!;
    this.#last = i;
    return { handle: m.handles[i]!, layer: r.layers[i]! };
  }

  toString(): string {
    return this.#last === undefined ? `L(${this.live ? 'live ' : ''}#${this.index})` : `L${this.#last}`;
  }
}

/**
 * A snapshot key: a literal one of the small universe (may be missing or taken), or the
 * index-th existing snapshot (of a kind, when given; a literal key when there is none), so
 * that calls on existing snapshots are frequent.
 */
export class KeyRef {
  #last: string | undefined;

  constructor(readonly choice: { literal: string } | { existing: number; kind?: SnapshotKind }) {}

  clone(): KeyRef {
    return new KeyRef(this.choice);
  }

  resolve(m: Readonly<StoreModel>): string {
    let key: string;
    if ('literal' in this.choice) key = this.choice.literal;
    else {
      const { existing, kind } = this.choice;
      const keys = [...m.snapshots.values()].filter((s) => kind === undefined || s.kind === kind).map((s) => s.key).sort();
      key = keys.length > 0 ? keys[existing % keys.length]! : KEYS[existing % KEYS.length]!;
    }
    this.#last = key;
    return key;
  }

  toString(): string {
    if (this.#last !== undefined) return JSON.stringify(this.#last);
    return 'literal' in this.choice ? JSON.stringify(this.choice.literal) : `existing(${this.choice.existing}${this.choice.kind ? `, ${this.choice.kind}` : ''})`;
  }
}

/**
 * A path in a layer: a literal one (from the small universe, maybe with `.`, `..`, `//`), an
 * existing entry of the layer's tree, or a new name inside an existing directory, resolved
 * against the model when the command runs, so that most calls meet something that exists.
 */
export class PathRef {
  #last: string | undefined;

  constructor(readonly choice: { literal: string } | { existing: number } | { inDir: number; name: string }) {}

  clone(): PathRef {
    return new PathRef(this.choice);
  }

  resolve(fs: ReferenceFs | undefined): string {
    let path: string;
    if ('literal' in this.choice) path = this.choice.literal;
    else {
      const entries = fs === undefined ? [] : fs.tree();
      if ('existing' in this.choice) {
        const paths = entries.filter((e) => e.path !== '/').map((e) => e.path);
        path = paths.length > 0 ? paths[this.choice.existing % paths.length]! : `/${NAMES[this.choice.existing % NAMES.length]}`;
      } else {
        const dirs = entries.filter((e) => e.type === 'dir').map((e) => e.path);
        const dir = dirs.length > 0 ? dirs[this.choice.inDir % dirs.length]! : '/';
        // An empty name is the directory itself.
        path = this.choice.name === '' ? dir : dir === '/' ? `/${this.choice.name}` : `${dir}/${this.choice.name}`;
      }
    }
    this.#last = path;
    return path;
  }

  toString(): string {
    if (this.#last !== undefined) return JSON.stringify(this.#last);
    if ('literal' in this.choice) return JSON.stringify(this.choice.literal);
    return 'existing' in this.choice ? `existing(${this.choice.existing})` : `inDir(${this.choice.inDir}, ${this.choice.name})`;
  }
}

/**
 * A copy of a command argument with no memory of a run: what each command's `fc.cloneMethod`
 * builds its copy from, so that every run (and the counterexample fast-check prints) has commands
 * of its own, printing what they resolved to in that run.
 */
export function fresh<T>(value: T): T {
  if (value instanceof LayerRef || value instanceof KeyRef || value instanceof PathRef) return value.clone() as T;
  return value;
}
