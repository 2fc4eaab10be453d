import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '../index.js';
import type { CommandContext } from './Command.js';
import { Interrupted, errorLine, exitStatusOf } from './exitStatus.js';
import { formatBytes, formatCount } from './format.js';
import { REGISTRY_BINARY, registryUnavailable, startRegistry, type Registry } from './localRegistry.js';
import { progressOn } from './ProgressBar.js';
import { invoke, storeDirectory } from './runCli.js';
import { StreamOutput } from './StreamOutput.js';
import { surveyFiles } from './survey.js';

/**
 * `npm run demo`: what cowstack is for, on this machine's own data, in the durable store the
 * command line uses (`$COWSTACK_STORE`, else `./.cowstack`). It imports the project's
 * node_modules as a base image, starts three containers on it, changes 64 bytes in the middle of
 * the largest file in each, commits one, and prints what overlay2 would have copied against what
 * cowstack stored; then `df`, `tree`, `diff`, `gc` and `check`, printed by the command line's own
 * commands. Where Debian's `docker-registry` is installed it then pushes the image to one on
 * loopback with `--lazy` and pulls it lazily into a second, temporary store (what another
 * machine would do): mountable with no data fetched, and a read fetches only its blocks. Every
 * figure comes from the stores. Its snapshots are named `demo-…`, and a previous
 * run's are removed first, so it can run again and again on the same store.
 */

const PREFIX = 'demo-';
const BASE = `${PREFIX}base`;
const CONTAINERS = [1, 2, 3].map((i) => `${PREFIX}container-${i}`);
const IMAGE = `${PREFIX}image-1`;
const PATCH_BYTES = 64;

function findNodeModules(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(process.cwd(), 'node_modules'), resolve(here, '../../../node_modules')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('no node_modules found: run `npm install` first');
}

/** Removes the snapshots of an earlier run, children before parents; resolves to how many. */
async function removePreviousRun(store: Store): Promise<number> {
  let removed = 0;
  for (;;) {
    const demo = new Map<string, string | undefined>();
    for await (const info of store.walk()) if (info.key.startsWith(PREFIX)) demo.set(info.key, info.parent);
    if (demo.size === 0) return removed;
    const parents = new Set([...demo.values()]);
    const leaves = [...demo.keys()].filter((key) => !parents.has(key));
    for (const key of leaves) await store.remove(key);
    removed += leaves.length;
  }
}

async function demo(store: Store, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  const out = new StreamOutput(process.stdout);
  const context: CommandContext = { store, out, signal, progress: (label) => progressOn(process.stderr, label) };
  const cowstack = async (...argv: string[]): Promise<number> => {
    await out.line(`$ cowstack ${argv.join(' ')}`);
    const status = await invoke(context, argv);
    await out.line();
    return status;
  };
  const source = findNodeModules();
  await out.line(`cowstack demo: durable store ${store.dir}, block size ${formatBytes(store.blockSize)}\n`);

  const previous = await removePreviousRun(store);
  if (previous > 0) {
    const freed = await store.gc({ signal });
    await out.line(`0. removed ${previous} snapshot(s) of an earlier demo run; gc freed ${formatBytes(freed.bytesFreed)}\n`);
  }

  await out.line(`1. import ${source} as the base image`);
  const beforeImport = await store.stats();
  let t = performance.now();
  await cowstack('import', source, BASE);
  const image = await surveyFiles(store, BASE, null, signal);
  const afterImport = await store.stats();
  await out.line(
    `   ${formatCount(image.files)} files, ${formatBytes(image.bytes)} logical; the store took ${formatBytes(afterImport.storedBytes - beforeImport.storedBytes)} ` +
    `more (${formatCount(afterImport.blocks - beforeImport.blocks)} distinct blocks: duplicates stored once, zeros not at all) in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
  );

  const target = image.largest;
  if (target === undefined) throw new Error(`${source} holds no files`);
  await out.line(`2. ${CONTAINERS.length} containers each change ${PATCH_BYTES} bytes in the middle of the largest file, ${target.path} (${formatBytes(target.size)})`);
  for (const [i, key] of CONTAINERS.entries()) {
    const container = await store.prepare(key, BASE, { labels: { demo: 'true' } });
    const handle = await container.open(target.path, 'r+');
    const patch = Buffer.alloc(PATCH_BYTES, `container ${i + 1} was here; `);
    await handle.write(patch, 0, patch.byteLength, Math.floor(target.size / 2));
    await handle.close();
  }
  const afterWrites = await store.stats();
  let overlay = 0;
  for (const key of CONTAINERS) overlay += (await surveyFiles(store, key, undefined, signal)).bytes;
  const stored = afterWrites.storedBytes - afterImport.storedBytes;
  await out.line(`   overlay2 copies up every file a container changes, whole: ${formatBytes(overlay)} (${formatCount(overlay)} bytes)`);
  await out.line(`   cowstack stored the changed blocks only:                  ${formatBytes(stored)} (${formatCount(stored)} bytes, ${(overlay / Math.max(stored, 1)).toFixed(0)}x less)`);
  for (const key of CONTAINERS) {
    const usage = await store.usage(key);
    await out.line(`   usage(${key}): ${formatCount(usage.size)} bytes in ${usage.blocks} block(s), ${usage.inodes} entr${usage.inodes === 1 ? 'y' : 'ies'} changed`);
  }
  await out.line();

  t = performance.now();
  await out.line(`3. commit ${CONTAINERS[0]} as ${IMAGE}`);
  await cowstack('commit', IMAGE, CONTAINERS[0]!);
  await out.line(`   (${(performance.now() - t).toFixed(0)} ms: a commit hands over the snapshot's tree, it copies nothing)\n`);

  await out.line('4. where the bytes are');
  await cowstack('df');
  await out.line('5. the snapshot graph');
  await cowstack('tree');
  await out.line(`6. what ${IMAGE} changed`);
  await cowstack('diff', IMAGE);
  await out.line(`7. remove ${CONTAINERS.slice(1).join(' and ')}, then collect their blocks`);
  for (const key of CONTAINERS.slice(1)) await cowstack('rm', key);
  await cowstack('gc');
  await out.line('8. re-hash every stored block');
  const checked = await cowstack('check');

  await out.line('9. lazy pull: another store mounts the image from a registry, then fetches only what it reads');
  await lazyPull(store, cowstack, out, target.path, image.bytes);

  const stats = await store.stats();
  await out.line(
    `store: ${formatCount(stats.snapshots)} snapshots, ${formatCount(stats.blocks)} blocks, ${formatCount(stats.storedBytes)} bytes stored; ` +
    `the demo's snapshots stay for you to explore: cowstack ls, cowstack cat ${IMAGE} ${target.path} | wc -c`,
  );
  await out.line(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return checked;
}

/**
 * Step 9: pushes `IMAGE` to a registry on loopback with `--lazy` (the command line's `push`), pulls
 * it lazily into a temporary store of the same block size, reads 1 MiB from the middle of `path`
 * there, and prints what that store holds after each step. The registry is Debian's
 * `docker-registry`, or the program `$COWSTACK_DEMO_REGISTRY` names (one installed elsewhere).
 * Skipped, with the reason, where there is none or it will not start; a failure after it started
 * fails the demo.
 */
async function lazyPull(store: Store, cowstack: (...argv: string[]) => Promise<number>, out: StreamOutput, path: string, imageBytes: number): Promise<void> {
  const binary = process.env['COWSTACK_DEMO_REGISTRY'] ?? REGISTRY_BINARY;
  const unavailable = registryUnavailable(binary);
  if (unavailable !== undefined) {
    await out.line(`   skipped: ${unavailable}\n`);
    return;
  }
  let registry: Registry;
  try {
    registry = await startRegistry({ binary });
  } catch (error) {
    // An optional step: a registry that will not start here (a port, a package) skips it, as a missing one does.
    await out.line(`   skipped: docker-registry did not start: ${(error as Error).message.split('\n')[0]}\n`);
    return;
  }
  const edgeDir = await mkdtemp(join(tmpdir(), 'cowstack-demo-edge-'));
  try {
    const ref = `${registry.host}/demo/image:v1`;
    if ((await cowstack('push', IMAGE, ref, '--lazy')) !== 0) return;
    const edge = await openStore({ dir: edgeDir, blockSize: store.blockSize });
    try {
      const started = performance.now();
      const top = await edge.pull(ref, { lazy: true });
      const pulled = await edge.stats();
      await out.line(
        `   a fresh store (${edgeDir}) pulled it with --lazy in ${(performance.now() - started).toFixed(0)} ms: ` +
        `${pulled.snapshots} snapshots, mountable, ${formatCount(pulled.storedBytes)} bytes of data stored (manifests and block indexes only)`,
      );
      const layer = await edge.mount(top.key);
      const handle = await layer.open(path, 'r');
      const { size } = await handle.stat();
      const length = Math.min(size, 1 << 20);
      const { bytesRead } = await handle.read(Buffer.alloc(length), 0, length, Math.floor((size - length) / 2));
      await handle.close();
      const read = await edge.stats();
      await out.line(
        `   reading ${formatBytes(bytesRead)} of ${path} there fetched and kept ${formatCount(read.storedBytes)} bytes (${formatCount(read.blocks)} block(s)) ` +
        `of the image's ${formatCount(imageBytes)}, by HTTP range requests, each block checked against its hash`,
      );
      const report = await edge.check();
      await out.line(`   check there: ${formatCount(report.blocksChecked)} block(s) stored and checked, ${formatCount(report.blocksRemote)} still in the registry until first read\n`);
    } finally {
      await edge.close();
    }
  } finally {
    await registry.stop();
    await rm(edgeDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const controller = new AbortController();
  const interrupt = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(new Interrupted(signal).exitStatus);
    controller.abort(new Interrupted(signal));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let store: Store | undefined;
  try {
    store = await openStore({ dir: storeDirectory(undefined, process.env) });
    process.exitCode = await demo(store, controller.signal);
  } catch (error) {
    const reported = controller.signal.aborted ? controller.signal.reason : error;
    process.stderr.write(`${errorLine(reported)}\n`);
    process.exitCode = exitStatusOf(reported);
  } finally {
    await store?.close();
  }
}

await main();
