/**
 * `npm run bench`: runs every scenario (or those `COWSTACK_BENCH_FILTER` names), prints the
 * results table, and writes the figures as JSON, the table as Markdown and the headline ratios as
 * an SVG chart in bench/results/ — `latest.*` for a full run, `partial.*` for a quick or filtered
 * one, so a smoke run never overwrites the full results. See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Figure } from './harness/figures.js';
import { describeMachine, load, revision } from './harness/machine.js';
import type { Measured } from './harness/measure.js';
import { markdownTable, table } from './harness/report.js';
import { ScenarioContext, type Scenario } from './harness/scenario.js';
import { Scratch } from './harness/scratch.js';
import { readSettings } from './harness/settings.js';
import { chart } from './harness/svg.js';
import { releaseData } from './harness/data.js';
import { blockSize } from './scenarios/blockSize.js';
import { commitCost } from './scenarios/commitCost.js';
import { dedup } from './scenarios/dedup.js';
import { deepStacks } from './scenarios/deepStacks.js';
import { ingest } from './scenarios/ingest.js';
import { lazyPull } from './scenarios/lazyPull.js';
import { limits } from './scenarios/limits.js';
import { memory } from './scenarios/memory.js';
import { smallWrites } from './scenarios/smallWrites.js';
import { workerScaling } from './scenarios/workerScaling.js';

const SCENARIOS: readonly Scenario[] = [limits, ingest, smallWrites, deepStacks, commitCost, workerScaling, dedup, blockSize, memory, lazyPull];

interface ScenarioRecord {
  readonly name: string;
  readonly title: string;
  readonly seconds: number;
  readonly loadBefore: number[];
  readonly loadAfter: number[];
  readonly facts: Record<string, unknown>;
  /** Every measured case: pooled median, p99, mean, min, max; tinybench's per-round p50, rme, throughput. */
  readonly measurements: readonly Measured[];
  readonly error?: string;
}

async function main(): Promise<void> {
  const settings = readSettings();
  const machine = describeMachine();
  const selected = SCENARIOS.filter((s) => settings.filter === undefined || s.name.includes(settings.filter) || s.title.toLowerCase().includes(settings.filter.toLowerCase()));
  if (selected.length === 0) throw new Error(`COWSTACK_BENCH_FILTER=${settings.filter} matches no scenario (${SCENARIOS.map((s) => s.name).join(', ')})`);
  const started = new Date();
  const scratch = new Scratch(settings.tmp);
  const onSignal = (signal: NodeJS.Signals): void => {
    scratch.cleanup();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => scratch.cleanup());
  // Count node's warnings (a FileHandle closed by the collector, say) and record them, rather
  // than let one repeated warning print thousands of lines into the table.
  const warnings = new Map<string, number>();
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    const key = warning.message.replace(/\d+/g, 'N');
    warnings.set(key, (warnings.get(key) ?? 0) + 1);
  });

  process.stdout.write(`cowstack benchmarks${settings.quick ? ' (quick)' : ''}: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, Linux ${machine.kernel}, load ${load().join(' ')}\n`);
  const figures: Figure[] = [];
  const records: ScenarioRecord[] = [];
  for (const scenario of selected) {
    const context = new ScenarioContext(scenario.name, settings, scratch);
    const loadBefore = load();
    const t0 = performance.now();
    process.stdout.write(`\n▶ ${scenario.title} (load ${loadBefore.join(' ')})\n`);
    let error: string | undefined;
    try {
      await scenario.run(context);
    } catch (e) {
      error = e instanceof Error ? e.stack ?? e.message : String(e);
      context.error(scenario.title, e);
    } finally {
      scratch.cleanup();
      releaseData();
    }
    const seconds = (performance.now() - t0) / 1000;
    records.push({ name: scenario.name, title: scenario.title, seconds: Math.round(seconds * 10) / 10, loadBefore, loadAfter: load(), facts: context.facts, measurements: context.measurements, ...(error === undefined ? {} : { error }) });
    figures.push(...context.figures);
    process.stdout.write(`${table(context.figures)}\n(${seconds.toFixed(0)} s)\n`);
  }
  const elapsed = (Date.now() - started.getTime()) / 1000;

  process.stdout.write(`\n=== cowstack benchmark results (${started.toISOString()}, ${elapsed.toFixed(0)} s) ===\n${table(figures)}\n`);
  const missed = figures.filter((f) => f.status === 'MISSED' || (f.status === 'ERROR' && f.goal !== undefined));
  const goals = figures.filter((f) => f.goal !== undefined);
  process.stdout.write(`\ngoals: ${goals.length - missed.length} of ${goals.length} met${missed.length > 0 ? `; MISSED: ${missed.map((f) => `${f.scenario}: ${f.name}`).join('; ')}` : ''}\n`);
  if (warnings.size > 0) process.stdout.write(`node warnings during the run: ${[...warnings].map(([k, n]) => `${n} × "${k}"`).join('; ')}\n`);

  const full = !settings.quick && settings.filter === undefined;
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const base = `${dir}${full ? 'latest' : 'partial'}`;
  const json = {
    date: started.toISOString(),
    elapsedSeconds: Math.round(elapsed),
    machine,
    revision: revision(),
    load: { start: records[0]?.loadBefore, end: load() },
    settings,
    scenarios: records,
    warnings: Object.fromEntries(warnings),
    goals: { total: goals.length, met: goals.length - missed.length, missed: missed.map((f) => `${f.scenario}: ${f.name}`) },
    figures,
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(json, replacer, 2)}\n`);
  writeFileSync(`${base}.md`, `${markdownTable(figures)}\n`);
  writeFileSync(`${base}.svg`, chart(figures, `${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, Linux ${machine.kernel}; ${started.toISOString().slice(0, 10)}; load ${json.load.start?.join(' ')}${settings.quick ? '; QUICK run' : ''}`));
  process.stdout.write(`wrote ${base}.json, ${base}.md and ${base}.svg\n`);
}

/** NaN and Infinity are not JSON: they are written as null. */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

/**
 * Runs the suite in a node with `--expose-gc` (so that measure.ts can collect garbage between
 * cases, untimed): when this process lacks it, the same command is run again with it, with the
 * same node flags (`--cpu-prof` included), and its exit status is passed on.
 */
function withGc(): boolean {
  if (typeof (globalThis as { gc?: unknown }).gc === 'function') return true;
  const child = spawnSync(process.execPath, [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exitCode = child.status ?? 1;
  return false;
}

if (withGc()) await main();
