import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/index.js';
import { mulberry32 } from '../support/FaultyFileSystem.js';
import { FixtureProcess, TempDirs, describeCheck, envNumber, fileHashes, openDisk } from './helpers.js';

/**
 * The crash test: child processes (test/fixtures/crash-writer.mjs, on the built engine) write,
 * commit, sync, remove and collect in a loop against one store directory, printing each
 * acknowledgement after the call resolved; the test SIGKILLs them at random moments — during
 * startup and recovery, between calls, inside commits, inside gc — reopens the store in this
 * process after every kill, requires `check()` to be ok, and finds every acknowledged commit with
 * exactly its files, every write acknowledged by `sync()` with exactly its content, and every
 * acknowledged remove done. A call announced but not acknowledged may have happened or not, but
 * all or nothing: a commit that landed holds exactly the files announced.
 *
 * COWSTACK_CRASH_KILLS (default 50) kills per mode; COWSTACK_CRASH_SEED picks the random choices.
 */
const KILLS = envNumber('COWSTACK_CRASH_KILLS', 50);
const SEED = envNumber('COWSTACK_CRASH_SEED', 20240611);
const PACK_TARGET = 256 << 10;

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

type Files = Record<string, string>;

interface Expected {
  /** Acknowledged committed snapshots: key → files (path → SHA-256). */
  committed: Map<string, Files>;
  /** Acknowledged syncs of active snapshots: key → path → SHA-256. */
  synced: Map<string, Map<string, string>>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one child until the kill chosen, and returns what it printed. */
async function runUntilKilled(dir: string, mode: 'write' | 'gc', generation: number, random: () => number): Promise<{ lines: Record<string, unknown>[]; how: string }> {
  const child = new FixtureProcess('crash-writer.mjs', [dir, mode, String(generation), String(Math.floor(random() * 2 ** 31)), String(PACK_TARGET)]);
  let how: string;
  try {
    const roll = random();
    if (roll < 0.15) {
      // Somewhere in startup: loading the engine, opening (recovering) the store, the first calls.
      const delay = 100 + Math.floor(random() * 500);
      how = `${delay} ms after spawn`;
      await sleep(delay);
    } else if (mode === 'gc' && roll < 0.75) {
      const n = 1 + Math.floor(random() * 4);
      const delay = random() < 0.3 ? 0 : random() * 6;
      how = `${delay.toFixed(1)} ms after gc intent #${n}`;
      let seen = 0;
      await child.waitFor((line) => line['intent'] === 'gc' && ++seen === n);
      await sleep(delay);
    } else {
      const n = 1 + Math.floor(random() * 8);
      const delay = random() < 0.3 ? 0 : random() * 8;
      how = `${delay.toFixed(1)} ms after line #${n} past ready`;
      await child.waitFor((line) => line['ready'] === true);
      const start = child.lines.length;
      await child.waitFor(() => child.lines.length >= start + n);
      await sleep(delay);
    }
  } catch (error) {
    await child.kill();
    throw new Error(`generation ${generation}: ${(error as Error).message}`, { cause: error });
  }
  if (!child.running) {
    const { code } = await child.exited;
    if (code !== 0) throw new Error(`generation ${generation}: the writer failed by itself (exit ${code}):\n${child.stderr}`);
  }
  await child.kill();
  return { lines: child.lines, how };
}

/** Applies a generation's acknowledgements; returns the call that was announced and not acknowledged, if any. */
function apply(expected: Expected, lines: readonly Record<string, unknown>[]): Record<string, unknown> | undefined {
  let pending: Record<string, unknown> | undefined;
  for (const line of lines) {
    if (line['unparsed'] !== undefined) throw new Error(`the writer printed a line that is not JSON: ${String(line['unparsed'])}`);
    if (line['intent'] !== undefined) {
      pending = line;
      continue;
    }
    switch (line['ack']) {
      case 'commit':
        expected.committed.set(line['key'] as string, line['files'] as Files);
        expected.synced.delete(line['from'] as string);
        pending = undefined;
        break;
      case 'sync': {
        const key = line['key'] as string;
        if (!expected.synced.has(key)) expected.synced.set(key, new Map());
        expected.synced.get(key)!.set(line['path'] as string, line['sha'] as string);
        break;
      }
      case 'remove':
        expected.committed.delete(line['key'] as string);
        expected.synced.delete(line['key'] as string);
        pending = undefined;
        break;
      case 'gc':
        pending = undefined;
        break;
      default:
        break;
    }
  }
  return pending;
}

/** Reopens the store in this process and compares it with what was acknowledged; settles the call in flight. */
async function verify(dir: string, expected: Expected, pending: Record<string, unknown> | undefined, label: string): Promise<void> {
  let store: Store;
  try {
    store = await openDisk(dir, { packTarget: PACK_TARGET });
  } catch (error) {
    throw new Error(`${label}: the store does not open: ${(error as Error).message}`, { cause: error });
  }
  const problems: string[] = [];
  try {
    const report = await store.check();
    if (!report.ok) problems.push(`check() is not ok:\n${describeCheck(report)}`);
    const found = new Map<string, string>();
    for await (const info of store.walk()) found.set(info.key, info.kind);
    const filesOf = async (key: string): Promise<Files> => fileHashes(await store.mount(key));

    if (pending?.['intent'] === 'commit' && found.has(pending['name'] as string)) {
      // The commit landed: all of it.
      const name = pending['name'] as string;
      if (found.has(pending['key'] as string)) problems.push(`commit ${name} landed, but its active snapshot ${String(pending['key'])} is still there`);
      expected.committed.set(name, pending['files'] as Files);
      expected.synced.delete(pending['key'] as string);
    }
    if (pending?.['intent'] === 'remove' && !found.has(pending['key'] as string)) {
      expected.committed.delete(pending['key'] as string);
      expected.synced.delete(pending['key'] as string);
    }
    const maybeRemoved = pending?.['intent'] === 'remove' ? (pending['key'] as string) : undefined;

    for (const [key, files] of expected.committed) {
      const kind = found.get(key);
      if (kind === undefined) {
        problems.push(`acknowledged commit ${key} is missing`);
        continue;
      }
      if (kind !== 'committed') problems.push(`${key} is ${kind}, not committed`);
      const got = await filesOf(key).catch((error: Error) => ({ error: error.message }));
      if (JSON.stringify(got) !== JSON.stringify(files)) problems.push(`committed ${key} holds ${JSON.stringify(got)}, acknowledged ${JSON.stringify(files)}`);
    }
    for (const [key, paths] of expected.synced) {
      const kind = found.get(key);
      if (kind === undefined) {
        if (key !== maybeRemoved) problems.push(`active ${key}, acknowledged by sync(), is missing`);
        continue;
      }
      const got = await filesOf(key).catch((error: Error) => ({ error: error.message }) as Files);
      for (const [path, sha] of paths) {
        if (got[path] !== sha) problems.push(`${key}:${path} holds ${got[path] ?? 'nothing'}, sync() acknowledged ${sha}`);
      }
    }
    for (const [key, kind] of found) {
      if (kind === 'committed' && !expected.committed.has(key) && key !== maybeRemoved) problems.push(`committed ${key} was never acknowledged nor announced`);
    }
  } finally {
    await store.close();
  }
  if (problems.length > 0) throw new Error(`${label}:\n${problems.join('\n')}`);
}

// The two writers run at the same time, each on its own store: most of a round is a child
// process starting up, which the other round's work can overlap.
describe.concurrent('SIGKILL of a writer process', () => {
  for (const mode of ['write', 'gc'] as const) {
    it(`${mode === 'gc' ? 'that alternates writes, removes and gc()' : 'that writes, syncs and commits'} loses nothing acknowledged, over ${KILLS} kills`, { timeout: 600_000 }, async () => {
      const dir = await dirs.make('cowstack-crash-');
      const random = mulberry32(SEED + (mode === 'gc' ? 1 : 0));
      const expected: Expected = { committed: new Map(), synced: new Map() };
      const history: string[] = [];
      let acknowledged = 0;
      /** Kills that landed with a call in flight, by call. */
      const inFlight: Record<string, number> = {};
      for (let generation = 1; generation <= KILLS; generation++) {
        const { lines, how } = await runUntilKilled(dir, mode, generation, random);
        const pending = apply(expected, lines);
        acknowledged += lines.filter((line) => line['ack'] !== undefined).length;
        if (pending !== undefined) inFlight[pending['intent'] as string] = (inFlight[pending['intent'] as string] ?? 0) + 1;
        history.push(`gen ${generation}: killed ${how}; ${lines.length} lines; in flight: ${pending === undefined ? '-' : JSON.stringify({ ...pending, files: undefined })}`);
        try {
          await verify(dir, expected, pending, `after kill ${generation} (${how})`);
          if (process.env['COWSTACK_CRASH_DEBUG'] !== undefined) process.stderr.write(`${mode} ${history[history.length - 1]}\n`);
        } catch (error) {
          throw new Error(`${(error as Error).message}\nhistory:\n${history.slice(-8).join('\n')}`, { cause: error });
        }
      }
      // The loop did real work, and kills landed inside the calls that matter.
      expect(acknowledged).toBeGreaterThan(KILLS);
      expect(inFlight[mode === 'gc' ? 'gc' : 'commit'] ?? 0, `kills in flight: ${JSON.stringify(inFlight)}`).toBeGreaterThanOrEqual(Math.ceil(KILLS / 10));
    });
  }
});
