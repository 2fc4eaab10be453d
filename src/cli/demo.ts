import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '../index.js';

/**
 * `npm run demo`: what cowstack is for, on this machine's own data. It imports the project's
 * node_modules as a base image, starts three containers on it, changes a few bytes in the middle
 * of the largest file in each, commits one, and prints what overlay2 would have copied against
 * what cowstack stored, then the store's figures, snapshot graph, diff, gc and check.
 * Every figure it prints is read from the store.
 */

const CONTAINERS = 3;

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(2)} MiB`;
}

function findNodeModules(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(process.cwd(), 'node_modules'), resolve(here, '../../../node_modules')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('no node_modules found: run `npm install` first');
}

/** The logical size of every regular file of a snapshot, and the largest one. */
async function survey(store: Store, key: string): Promise<{ files: number; bytes: number; largest: { path: string; size: number } }> {
  const view = await store.view(`${key}-survey`, key);
  let files = 0;
  let bytes = 0;
  let largest = { path: '', size: -1 };
  for await (const change of store.diff(key, null)) {
    const stats = await view.lstat(change.path);
    if (!stats.isFile()) continue;
    files++;
    bytes += stats.size;
    if (stats.size > largest.size) largest = { path: change.path, size: stats.size };
  }
  await store.remove(`${key}-survey`);
  return { files, bytes, largest };
}

async function main(): Promise<void> {
  const started = performance.now();
  const source = findNodeModules();
  const store = await openStore();
  console.log(`cowstack demo — in-memory store, block size ${store.blockSize / 1024} KiB\n`);

  console.log(`1. import ${source} as the base image`);
  let t = performance.now();
  await store.importTree('base', undefined, source);
  const image = await survey(store, 'base');
  const afterImport = await store.stats();
  console.log(`   ${image.files} files, ${mib(image.bytes)} logical, ${mib(afterImport.storedBytes)} stored ` +
    `(${afterImport.blocks} distinct blocks; duplicates and zeros stored once or not at all) in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);

  const target = image.largest;
  console.log(`2. ${CONTAINERS} containers each change 64 bytes in the middle of the largest file, ${target.path} (${mib(target.size)})`);
  for (let i = 1; i <= CONTAINERS; i++) {
    const container = await store.prepare(`container-${i}`, 'base', { labels: { demo: 'true' } });
    const handle = await container.open(target.path, 'r+');
    const patch = Buffer.alloc(64, `container ${i} was here; `);
    await handle.write(patch, 0, patch.byteLength, Math.floor(target.size / 2));
    await handle.close();
  }
  const afterWrites = await store.stats();
  const overlayCopies = CONTAINERS * target.size;
  const cowstackStored = afterWrites.storedBytes - afterImport.storedBytes;
  console.log(`   overlay2 would copy up the whole file ${CONTAINERS} times: ${mib(overlayCopies)}`);
  console.log(`   cowstack stored:                                    ${mib(cowstackStored)} (${((overlayCopies / Math.max(cowstackStored, 1))).toFixed(0)}× less)`);
  for (let i = 1; i <= CONTAINERS; i++) {
    const usage = await store.usage(`container-${i}`);
    console.log(`   usage(container-${i}): ${usage.size} bytes in ${usage.blocks} block(s), ${usage.inodes} inode(s) changed`);
  }

  t = performance.now();
  await store.commit('container-1-image', 'container-1');
  console.log(`\n3. commit container-1 as container-1-image in ${(performance.now() - t).toFixed(1)} ms`);

  console.log('\n4. df');
  const stats = await store.stats();
  console.log(`   snapshots ${stats.snapshots}, blocks ${stats.blocks}, stored ${mib(stats.storedBytes)}, ` +
    `logical ${mib(image.bytes * (1 + CONTAINERS))} across base and ${CONTAINERS} containers`);

  console.log('\n5. tree');
  for await (const info of store.walk()) console.log(`   ${info.key} (${info.kind})${info.parent === undefined ? '' : ` ← ${info.parent}`}`);

  console.log('\n6. diff container-1-image');
  for await (const change of store.diff('container-1-image')) console.log(`   ${change.kind === 'added' ? 'A' : change.kind === 'deleted' ? 'D' : 'C'} ${change.path}`);

  console.log('\n7. remove container-2 and container-3, then gc');
  await store.remove('container-2');
  await store.remove('container-3');
  const gc = await store.gc();
  console.log(`   ${gc.blocksRemoved} blocks removed, ${gc.bytesFreed} bytes freed`);

  const check = await store.check();
  console.log(`\n8. check: ${check.ok ? 'ok' : 'PROBLEMS'}, ${check.blocksChecked} blocks re-hashed`);
  for (const problem of check.problems) console.log(`   ${problem.code} ${problem.key ?? ''} ${problem.path ?? ''} ${problem.message}`);
  await store.close();
  console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (!check.ok) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`cowstack demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
