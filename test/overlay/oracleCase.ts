import { chmod, lchown, lstat, mkdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { openStore, type Layer, type Store } from '../../src/index.js';
import { ReferenceFs, type TreeEntry } from '../model/ReferenceFs.js';
import { formatTree, listTree } from '../model/tree.js';
import { comparableTree, listHostTree, treeDelta } from './hostTree.js';
import { detachAll, type Jail, type KernelWorker, mountOverlay, removeScratch, type Scratch } from './kernel.js';
import {
  containerOpArb, describeOp, describeOutcome, modelAllows, type ModelOutcome, modelOfTree, type OpSpec, type Outcome, resolveOp, runOnKernel, runOnLayer, runOnModel, sameOutcome, writeOpArb,
} from './ops.js';
import { regroupedNames, writeOciLayer, writeSnapshotLayer } from './overlayLayers.js';
import { Tally } from './Tally.js';

/**
 * One case of the overlayfs oracle (overlay-oracle.test.ts):
 *
 * 1. a stack of committed cowstack layers, each made by random calls, written as overlayfs layer
 *    directories (from `store.diff` or from `exportLayer`, by case), and the stack mounted
 *    read-only by the kernel and compared with cowstack's top snapshot (with `exportLayer`, every
 *    prefix of the stack, against the snapshot of its top layer);
 * 2. an overlay mount over them with an empty upper directory (`variant` picks `redirect_dir` and
 *    `index`), and a cowstack container prepared on the top layer;
 * 3. random calls applied to both (the kernel's through node:fs/promises in a jail whose root is
 *    the mount) and to the reference model: after each, the same outcome (error code, or value of
 *    a read) and the same tree (names, types, sizes, bytes, modes, owners, link targets, hard-link
 *    groups and link counts; not times, not directories' link counts);
 * 4. the container committed, `exportLayer` of it converted into a fresh upper directory over the
 *    same lower directories, mounted, and compared with cowstack's committed snapshot.
 *
 * Where the kernel departs from POSIX on purpose (overlayfs.rst, "Non-standard behavior"), the
 * case names it (`Tally`) and checks cowstack against the reference model instead:
 * - without `redirect_dir`, renaming a lower or merged directory fails with EXDEV; cowstack must
 *   do what the model says (API.md: rename never EXDEV); the kernel is then remounted with
 *   `redirect_dir=on`, the rename retried, and the case goes on;
 * - without `index`, copy-up of a file with several names in a lower layer breaks the link; at
 *   the first difference, when the lower layers hold such files, cowstack must agree with the
 *   model (call and tree), and the case stops comparing with the kernel there.
 */

export interface Variant {
  redirectDir: boolean;
  index: boolean;
}

export interface OracleCase {
  /** The calls making each committed layer, bottom first. */
  layers: OpSpec[][];
  /** How the lower layers are written: from `store.diff` + layers, or from `exportLayer`'s tar. */
  lowerFormat: 'diff' | 'tar';
  variant: Variant;
  /** The calls applied to the container and the mount. */
  ops: OpSpec[];
}

/** Small trees, few calls: names a, b, c up to three deep, 1 to 5 layers of up to 8 calls, up to 16 calls on top. */
export const oracleCaseArb: fc.Arbitrary<OracleCase> = fc.record({
  layers: fc.array(fc.array(writeOpArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
  lowerFormat: fc.constantFrom('diff' as const, 'tar' as const),
  variant: fc.oneof(
    { weight: 4, arbitrary: fc.constant({ redirectDir: true, index: true }) },
    { weight: 1, arbitrary: fc.constant({ redirectDir: false, index: false }) },
    { weight: 1, arbitrary: fc.constant({ redirectDir: false, index: true }) },
    { weight: 1, arbitrary: fc.constant({ redirectDir: true, index: false }) },
  ),
  ops: fc.array(containerOpArb, { minLength: 1, maxLength: 16, size: 'medium' }),
});

const EXDEV_RENAME = 'rename of a lower or merged directory fails with EXDEV without redirect_dir=on (cowstack renames it)';
const REGROUPED = "a name re-linked to an equal inode is not in diff, so exportLayer's tar keeps the old grouping (design.md, diff semantics)";
const PRECEDENCE = 'API.md leaves the order open, the model accepts either';
const BROKEN_HARDLINK = 'copy-up breaks a lower hard link without index=on (cowstack keeps one inode)';

export interface OracleEnv {
  scratch: Scratch;
  jail: Jail;
  tally: Tally;
}

let caseNumber = 0;

export async function runOracleCase(c: OracleCase, env: OracleEnv): Promise<void> {
  const dir = await env.scratch.sub(`case-${++caseNumber}`);
  const store = await openStore({ workers: 0, blockSize: 4096 });
  const mounts: string[] = [];
  let worker: KernelWorker | undefined;
  try {
    env.tally.cases += 1;
    env.tally.start();
    const options = describeVariant(c.variant);
    env.tally.variants.set(options, (env.tally.variants.get(options) ?? 0) + 1);

    // 1. The committed layers, as overlayfs layer directories. With exportLayer's tars every
    // prefix of the stack is mounted (the next layer's converter reads it) and so checked; with
    // store.diff only the whole stack is.
    const keys = await buildLayers(store, c.layers);
    env.tally.lap('build layers');
    const empty = await env.scratch.sub(`case-${caseNumber}/empty`);
    const lowers: string[] = []; // topmost first
    let view: string | undefined;
    for (const [i, key] of keys.entries()) {
      const layerDir = join(dir, `L${i + 1}`);
      env.tally.count(c.lowerFormat === 'diff' ? await writeSnapshotLayer(store, key, layerDir) : await writeOciLayer(store.exportLayer(key), layerDir, view));
      lowers.unshift(layerDir);
      env.tally.lap('write lower layers');
      if (c.lowerFormat === 'diff' && i < keys.length - 1) continue;
      view = join(dir, `view${i + 1}`);
      await mountOverlay(view, { lowers: [...lowers, empty], readOnly: true });
      mounts.push(view);
      env.tally.lap('mount views');
      await expectSameLayerTree(
        `layers 1..${i + 1} written from ${c.lowerFormat === 'diff' ? 'store.diff' : 'exportLayer'} and mounted by the kernel, against snapshot ${key}`,
        await listHostTree(view),
        await listTree(await store.mount(key)),
        c.lowerFormat === 'tar' ? { store, key, tally: env.tally } : undefined,
      );
      env.tally.lap('compare views');
    }
    const top = view!;

    // 2. The container: an empty upper directory carrying the root's metadata, over the lowers.
    const upper = join(dir, 'upper');
    const work = join(dir, 'work');
    const merged = join(dir, 'merged');
    await mkdir(upper);
    await copyRootMeta(top, upper);
    let variant = { ...c.variant };
    const enter = async (): Promise<KernelWorker> => {
      await mountOverlay(merged, { lowers: [...lowers, env.jail.skeleton], upper, work, redirectDir: variant.redirectDir, index: variant.index, volatile: true });
      return env.jail.enter(merged);
    };
    worker = await enter();
    mounts.push(merged);
    env.tally.lap('mount container, start jail');
    const container = await store.prepare('container', keys.at(-1));
    const model = modelOfTree(new ReferenceFs(), await listTree(container));
    const lowerLinks = (await listHostTree(top)).some((e) => e.type !== 'dir' && e.nlink > 1);
    const kernelTree = async (): Promise<string[]> => comparableTree(await listHostTree(merged, env.jail.hidden));
    const cowTree = async (): Promise<string[]> => comparableTree(await listTree(container));
    expectSameTree('the container before any call, against the kernel mount', await listHostTree(merged, env.jail.hidden), await listTree(container));
    env.tally.lap('model, first comparison');

    // 3. The calls.
    for (const [index, spec] of c.ops.entries()) {
      env.tally.calls += 1;
      const op = resolveOp(spec, model);
      const label = `call ${index + 1} of ${c.ops.length}, ${describeOp(op)} (mount options ${describeVariant(variant)})`;
      const real = await runOnLayer(container, op);
      const expected = runOnModel(model, op);
      let kernel = await runOnKernel(worker, op);
      if (op.kind === 'rename' && !kernel.ok && kernel.code === 'EXDEV' && !variant.redirectDir) {
        checkAgainstModel(`${label}: the kernel says EXDEV, documented without redirect_dir`, real, expected, await cowTree(), comparableTree(model.tree()));
        env.tally.note(EXDEV_RENAME);
        await worker.close();
        await detachAll([merged]);
        variant = { ...variant, redirectDir: true };
        worker = await enter();
        kernel = await runOnKernel(worker, op);
      }
      env.tally.lap('calls');
      const [kTree, cTree] = [await kernelTree(), await cowTree()];
      env.tally.lap('compare trees after calls');
      const kind = env.tally.kinds.get(op.kind) ?? { ran: 0, ok: 0 };
      env.tally.kinds.set(op.kind, { ran: kind.ran + 1, ok: kind.ok + (kernel.ok ? 1 : 0) });
      const sameTrees = kTree.join('\n') === cTree.join('\n');
      if (sameOutcome(kernel, real) && sameTrees) continue;
      if (sameTrees && !kernel.ok && !real.ok && !expected.ok && expected.codes.includes(kernel.code) && expected.codes.includes(real.code)) {
        // Two errors apply and API.md does not order them: the model accepts either.
        env.tally.note(`${op.kind}: kernel ${kernel.code}, cowstack ${real.code} where both apply (${PRECEDENCE})`);
        continue;
      }
      if (!variant.index && lowerLinks) {
        checkAgainstModel(`${label}: the kernel differs, as documented without index=on for lower hard links`, real, expected, cTree, comparableTree(model.tree()));
        env.tally.note(BROKEN_HARDLINK);
        break;
      }
      const modelSays = describeOutcome(expected);
      const modelTree = comparableTree(model.tree());
      throw new Error(
        [
          `${label}: cowstack and the kernel differ`,
          `  outcome: kernel ${describeOutcome(kernel)}, cowstack ${describeOutcome(real)}, POSIX model ${modelSays}`,
          kTree.join('\n') === cTree.join('\n') ? '  trees: equal' : `  trees (- cowstack only, + kernel only):\n${treeDelta(kTree, cTree)}`,
          `  the model's tree is ${modelTree.join('\n') === cTree.join('\n') ? "cowstack's" : modelTree.join('\n') === kTree.join('\n') ? "the kernel's" : 'neither'}`,
          `  cowstack tree:\n${cTree.map((l) => `    ${l}`).join('\n')}`,
        ].join('\n'),
      );
    }
    await worker.close();
    worker = undefined;
    env.tally.lap('stop jail');

    // 4. The committed container, exported as an OCI layer, converted, and mounted by the kernel.
    await store.commit('final', 'container');
    const exported = join(dir, 'upper-export');
    env.tally.count(await writeOciLayer(store.exportLayer('final'), exported, top));
    env.tally.lap('export');
    const mergedExport = join(dir, 'merged-export');
    await mountOverlay(mergedExport, { lowers: [...lowers, empty], upper: exported, work: join(dir, 'work-export'), readOnly: true, volatile: true });
    mounts.push(mergedExport);
    await expectSameLayerTree(
      "exportLayer of the committed container, in overlayfs's format over the same lowers, against the committed snapshot",
      await listHostTree(mergedExport),
      await listTree(await store.mount('final')),
      { store, key: 'final', tally: env.tally },
    );
    env.tally.lap('mount and compare export');
  } finally {
    await worker?.close();
    await detachAll(mounts.reverse());
    await store.close();
    await removeScratch(dir);
    env.tally.lap('clean up');
  }
}

/** Commits one snapshot per list of calls, each on the one before; paths resolved against a model of the stack. */
async function buildLayers(store: Store, layers: readonly OpSpec[][]): Promise<string[]> {
  const keys: string[] = [];
  const model = new ReferenceFs();
  let parent: string | undefined;
  for (const [i, specs] of layers.entries()) {
    const key = `layer${i + 1}`;
    const layer: Layer = await store.prepare(`${key}-work`, parent);
    for (const spec of specs) {
      const op = resolveOp(spec, model);
      await runOnLayer(layer, op);
      runOnModel(model, op);
    }
    await store.commit(key, `${key}-work`);
    keys.push(key);
    parent = key;
  }
  return keys;
}

function describeVariant(v: Variant): string {
  const parts = [...(v.redirectDir ? ['redirect_dir=on'] : []), ...(v.index ? ['index=on'] : [])];
  return parts.length === 0 ? '(none)' : parts.join(',');
}

async function copyRootMeta(from: string, to: string): Promise<void> {
  const st = await lstat(from);
  await lchown(to, st.uid, st.gid);
  await chmod(to, st.mode & 0o7777);
  await utimes(to, st.mtime, st.mtime);
}

function expectSameTree(label: string, kernel: readonly TreeEntry[], cowstack: readonly TreeEntry[]): void {
  const k = comparableTree(kernel);
  const c = comparableTree(cowstack);
  if (k.join('\n') === c.join('\n')) return;
  throw new Error(`${label}: the trees differ (- cowstack only, + kernel only):\n${treeDelta(k, c)}\n  cowstack tree:\n${c.map((l) => `    ${l}`).join('\n')}`);
}

/**
 * As `expectSameTree`, for a tree mounted from `exportLayer`'s tar of snapshot `exported.key`:
 * where the trees differ only in hard-link groups and link counts of names that `diff` leaves out
 * although their inode changed (design.md's documented limit), the difference is named instead.
 */
async function expectSameLayerTree(
  label: string,
  kernel: readonly TreeEntry[],
  cowstack: readonly TreeEntry[],
  exported: { store: Store; key: string; tally: Tally } | undefined,
): Promise<void> {
  if (exported !== undefined && comparableTree(kernel).join('\n') !== comparableTree(cowstack).join('\n')) {
    const withoutLinks = (entries: readonly TreeEntry[]): string => formatTree(entries, { links: false }).join('\n');
    const regrouped = await regroupedNames(exported.store, exported.key);
    const differing = new Set(treeDelta(comparableTree(kernel), comparableTree(cowstack)).split('\n').map((line) => line.slice(4).split(' ')[0]!));
    if (withoutLinks(kernel) === withoutLinks(cowstack) && regrouped.size > 0 && [...differing].every((path) => regrouped.has(path))) {
      exported.tally.note(REGROUPED);
      return;
    }
  }
  expectSameTree(label, kernel, cowstack);
}

/** Where the kernel is not the oracle: cowstack's call and tree must be what the POSIX model says. */
function checkAgainstModel(label: string, real: Outcome, expected: ModelOutcome, cTree: readonly string[], mTree: readonly string[]): void {
  if (!real.ok && real.code === 'EXDEV') throw new Error(`${label}: cowstack rejected with EXDEV, which API.md rules out for rename`);
  if (!modelAllows(expected, real)) throw new Error(`${label}: cowstack ${describeOutcome(real)}, the POSIX model ${describeOutcome(expected)}`);
  if (cTree.join('\n') !== mTree.join('\n')) throw new Error(`${label}: cowstack's tree is not the model's (- model only, + cowstack only):\n${treeDelta(cTree, mTree)}`);
}
