import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

/** The machine a run measured, recorded beside its figures. */
export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly availableParallelism: number;
  readonly totalMemoryBytes: number;
  readonly node: string;
  readonly v8: string;
  readonly kernel: string;
  readonly cpuFlags: { readonly shaNi: boolean; readonly avx2: boolean };
}

export function describeMachine(): Machine {
  const flags = cpuFlags();
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    availableParallelism: availableParallelism(),
    totalMemoryBytes: totalmem(),
    node: process.version,
    v8: process.versions.v8,
    kernel: release(),
    cpuFlags: { shaNi: flags.has('sha_ni'), avx2: flags.has('avx2') },
  };
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return new Set(line?.split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/** The 1-, 5- and 15-minute load averages: the noise other processes made while a scenario ran. */
export function load(): [number, number, number] {
  const [one, five, fifteen] = loadavg();
  return [round2(one ?? 0), round2(five ?? 0), round2(fifteen ?? 0)];
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** The engine's revision: the commit checked out, and how many files of src/ differ from it. */
export function revision(): { commit: string; changedSourceFiles: number } {
  const cwd = fileURLToPath(new URL('../../../', import.meta.url));
  const git = (...args: string[]): string => spawnSync('git', args, { cwd, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', 'HEAD') || 'unknown';
  const changed = git('status', '--porcelain', '--', 'src').split('\n').filter((line) => line !== '').length;
  return { commit, changedSourceFiles: changed };
}
