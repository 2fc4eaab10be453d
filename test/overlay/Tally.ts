import type { LayerCounts } from './overlayLayers.js';

/** What the run met: the documented differences named, and how often. */
export class Tally {
  cases = 0;
  calls = 0;
  readonly documented = new Map<string, number>();
  readonly variants = new Map<string, number>();
  /** What the layer directories written held, summed. */
  readonly layers: LayerCounts = { entries: 0, whiteouts: 0, opaque: 0, pulledUp: 0 };
  /** Per call kind: how many ran, how many the kernel let succeed. */
  readonly kinds = new Map<string, { ran: number; ok: number }>();
  /** Milliseconds spent per step, summed over cases. */
  readonly timings = new Map<string, number>();
  #last = 0;

  /** Ends the step that began at the previous `lap` (or `start`) and charges it to `step`. */
  lap(step: string): void {
    const now = performance.now();
    this.timings.set(step, (this.timings.get(step) ?? 0) + now - this.#last);
    this.#last = now;
  }

  start(): void {
    this.#last = performance.now();
  }

  count(layer: LayerCounts): void {
    this.layers.entries += layer.entries;
    this.layers.whiteouts += layer.whiteouts;
    this.layers.opaque += layer.opaque;
    this.layers.pulledUp += layer.pulledUp;
  }

  note(what: string): void {
    this.documented.set(what, (this.documented.get(what) ?? 0) + 1);
  }

  summary(): string {
    const lines = [`${this.cases} cases, ${this.calls} calls compared`];
    for (const [variant, n] of this.variants) lines.push(`  mount options ${variant}: ${n} cases`);
    const l = this.layers;
    lines.push(`  layer directories written: ${l.entries} entries, ${l.whiteouts} whiteouts, ${l.opaque} opaque directories, ${l.pulledUp} names pulled up to keep hard links whole`);
    lines.push(`  calls (succeeded/ran): ${[...this.kinds].map(([kind, { ran, ok }]) => `${kind} ${ok}/${ran}`).join(', ')}`);
    for (const [what, n] of this.documented) lines.push(`  named difference, ${n}×: ${what}`);
    const total = [...this.timings.values()].reduce((a, b) => a + b, 0);
    lines.push(`  time: ${[...this.timings].map(([step, ms]) => `${step} ${Math.round((100 * ms) / total)}%`).join(', ')} of ${Math.round(total / 1000)} s`);
    return lines.join('\n');
  }
}
