/**
 * A figure is one measured value and, always, its ratio against a limit or a peer measured in
 * the same run. Where the brief sets a goal on the ratio, the figure carries it and says whether
 * it was met: `ok`, or `MISSED` with the measured value beside it. `info` figures have no goal.
 */
export interface Goal {
  readonly op: '>=' | '<=' | '==';
  readonly target: number;
  /** Tolerance for `==` (absolute, on the ratio). */
  readonly tolerance?: number;
}

export type Status = 'ok' | 'MISSED' | 'info' | 'ERROR';

export interface Figure {
  readonly scenario: string;
  readonly name: string;
  /** The measured value (the median for timings), in `unit`. */
  readonly value: number;
  readonly unit: Unit;
  readonly p99?: number;
  readonly samples?: number;
  /** `value` against `reference`, as `ratio` says. */
  readonly ratio: number;
  /** What the ratio is taken against, with its own value: "all-core SHA-256 (812 MiB/s)". */
  readonly reference: string;
  readonly goal?: Goal;
  readonly status: Status;
  readonly note?: string;
  /** Drawn in the SVG chart. */
  readonly headline?: boolean;
}

/** Units values are kept in: throughput in bytes/s, time in ms, sizes in bytes. */
export type Unit = 'B/s' | 'ms' | 'B' | 'B/block' | 'x' | 'count';

export interface FigureInput {
  readonly name: string;
  readonly value: number;
  readonly unit: Unit;
  readonly p99?: number;
  readonly samples?: number;
  readonly ratio: number;
  readonly reference: string;
  readonly goal?: Goal;
  readonly note?: string;
  readonly headline?: boolean;
}

export function makeFigure(scenario: string, input: FigureInput): Figure {
  const status: Status = !Number.isFinite(input.ratio) ? 'ERROR' : input.goal === undefined ? 'info' : meets(input.ratio, input.goal) ? 'ok' : 'MISSED';
  return { scenario, ...input, status };
}

/** A figure for a case that failed: the table shows the error instead of a number. */
export function errorFigure(scenario: string, name: string, error: unknown, goal?: Goal): Figure {
  const message = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
  return {
    scenario, name, value: Number.NaN, unit: 'x', ratio: Number.NaN, reference: '—', status: 'ERROR',
    note: message.length > 160 ? `${message.slice(0, 157)}...` : message, ...(goal === undefined ? {} : { goal }),
  };
}

export function meets(ratio: number, goal: Goal): boolean {
  switch (goal.op) {
    case '>=': return ratio >= goal.target;
    case '<=': return ratio <= goal.target;
    case '==': return Math.abs(ratio - goal.target) <= (goal.tolerance ?? 0);
  }
}

export function goalText(goal: Goal): string {
  return `${goal.op === '==' ? '=' : goal.op === '>=' ? '≥' : '≤'} ${trim(goal.target)}`;
}

/** A value in its unit, short: `812 MiB/s`, `1.84 ms`, `37 µs`, `44.2 B/block`. */
export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return '—';
  switch (unit) {
    case 'B/s': return value >= 1024 ** 3 ? `${(value / 1024 ** 3).toFixed(2)} GiB/s` : `${(value / 1024 ** 2).toFixed(value >= 100 * 1024 ** 2 ? 0 : 1)} MiB/s`;
    case 'ms': return formatMs(value);
    case 'B': return formatBytes(value);
    case 'B/block': return `${value.toFixed(1)} B/block`;
    case 'x': return `${trim(value)}×`;
    case 'count': return `${Math.round(value)}`;
  }
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(ms >= 0.01 ? 0 : 1)} µs`;
}

export function formatBytes(n: number): string {
  const abs = Math.abs(n);
  if (abs >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (abs >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** A ratio with three significant digits. */
export function trim(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  if (abs >= 0.001) return x.toPrecision(3).replace(/0+$/, '').replace(/\.$/, '');
  return x.toExponential(2);
}
