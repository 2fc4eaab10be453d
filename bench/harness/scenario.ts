import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { errorFigure, makeFigure, type Figure, type FigureInput, type Goal } from './figures.js';
import type { Measured } from './measure.js';
import type { Scratch } from './scratch.js';
import type { Settings } from './settings.js';

/** One scenario of the suite: `run` measures and reports its figures through the context. */
export interface Scenario {
  /** Short, unique; what `COWSTACK_BENCH_FILTER` matches. */
  readonly name: string;
  readonly title: string;
  run(context: ScenarioContext): Promise<void>;
}

/** What a scenario gets: the settings, a place for temp files, and where its figures go. */
export class ScenarioContext {
  readonly scenario: string;
  readonly settings: Settings;
  readonly scratch: Scratch;
  readonly figures: Figure[] = [];
  /** Facts the scenario found worth keeping beside its figures (sizes, counters, reasons). */
  readonly facts: Record<string, unknown> = {};
  /** Every case measured, with tinybench's per-round statistics, for the JSON. */
  readonly measurements: Measured[] = [];

  constructor(scenario: string, settings: Settings, scratch: Scratch) {
    this.scenario = scenario;
    this.settings = settings;
    this.scratch = scratch;
  }

  /** Adds a figure; one whose ratio is not a number is an `ERROR` row carrying `error` as its note. */
  figure(input: FigureInput, error?: string): Figure {
    const figure = makeFigure(this.scenario, error === undefined ? input : { ...input, note: error });
    this.figures.push(figure);
    return figure;
  }

  /** Keeps what `measure` returned for the JSON; returns it unchanged. */
  keep(measured: Map<string, Measured>): Map<string, Measured> {
    this.measurements.push(...measured.values());
    return measured;
  }

  /** A row without a measurement, only a statement: "overlayfs: not available (…)". */
  notice(name: string, note: string): void {
    this.figures.push({ scenario: this.scenario, name, value: Number.NaN, unit: 'x', ratio: Number.NaN, reference: '—', status: 'info', note });
  }

  error(name: string, error: unknown, goal?: Goal): void {
    this.figures.push(errorFigure(this.scenario, name, error, goal));
    this.log(`${name}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  }

  log(message: string): void {
    process.stderr.write(`  [${this.scenario}] ${message}\n`);
  }
}

/**
 * Runs `measurement` of `bench/child.ts` in a fresh node with `--expose-gc`, for memory figures
 * that other scenarios' garbage would spoil; resolves to what it sends back.
 */
export function inChild<T>(measurement: string, args: unknown): Promise<T> {
  const entry = fileURLToPath(new URL('../child.js', import.meta.url));
  return new Promise<T>((resolve, reject) => {
    const child = fork(entry, [measurement, JSON.stringify(args)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answer: { ok: true; value: T } | { ok: false; error: string } | undefined;
    child.on('message', (message) => {
      answer = message as typeof answer;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (answer?.ok === true) resolve(answer.value);
      else reject(new Error(answer?.ok === false ? answer.error : `child '${measurement}' exited with code ${code}`));
    });
  });
}
