/**
 * The entry of a child process that takes one memory measurement with a clean heap and
 * `--expose-gc` (see `inChild` in harness/scenario.ts): `node --expose-gc child.js NAME ARGS-JSON`.
 * It sends `{ ok, value }` or `{ ok: false, error }` to its parent and exits.
 */
import { measureDedup, type DedupArgs } from './scenarios/dedup.js';
import { measureIndexMemory } from './scenarios/memory.js';

const measurements: Record<string, (args: never) => unknown> = {
  dedup: (args: DedupArgs) => measureDedup(args),
  'index-memory': (args: { entries: number; seed: number }) => measureIndexMemory(args),
};

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2);
  const measurement = name === undefined ? undefined : measurements[name];
  try {
    if (measurement === undefined) throw new Error(`unknown measurement '${name}'`);
    const value = await measurement(JSON.parse(json ?? '{}') as never);
    process.send!({ ok: true, value });
  } catch (error) {
    process.send!({ ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) });
  }
  process.disconnect();
}

await main();
