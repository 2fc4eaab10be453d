import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { Layer } from '../../src/index.js';
import { type Bytes, bytesArb, idArb, modeArb, NAMES, offsetArb, pathArb, readPathArb, smallBytesArb, targetArb } from '../model/arbitraries.js';
import { PathRef } from '../model/commands/refs.js';
import { ModelError, type ReferenceFs, type TreeEntry } from '../model/ReferenceFs.js';
import type { KernelWorker, WorkerReply } from './kernel.js';

/**
 * The calls the overlayfs oracle makes, one shape for all three places they run: a cowstack
 * `Layer`, the reference model (`ReferenceFs`) and the kernel (node:fs/promises in the jail,
 * jailWorker.mjs). Plain data, so a failing case prints as the calls it made.
 */
export type WriteFlags = 'r+' | 'w' | 'w+' | 'wx' | 'a' | 'a+';

export type Op =
  | { kind: 'writeFile'; path: string; data: Bytes; mode: number | undefined }
  | { kind: 'write'; path: string; flags: WriteFlags; mode: number | undefined; position: number; data: Bytes }
  | { kind: 'truncate'; path: string; len: number }
  | { kind: 'mkdir'; path: string; recursive: boolean; mode: number | undefined }
  | { kind: 'rm'; path: string; recursive: boolean; force: boolean }
  /** `rm -rf` then `mkdir` of one path: a directory deleted and made again (an opaque one in a layer). */
  | { kind: 'recreate'; path: string; mode: number | undefined }
  | { kind: 'rmdir' | 'unlink'; path: string }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'symlink'; target: string; path: string }
  | { kind: 'link'; existing: string; path: string }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'chown'; path: string; uid: number; gid: number }
  | { kind: 'readFile' | 'stat' | 'lstat' | 'readdir' | 'readlink'; path: string };

/** What a call did, in one comparable shape: a value (reads only) or an error code. */
export type Outcome = { ok: true; value?: unknown } | { ok: false; code: string };

/** What the model allows: its value, or one of several codes where API.md leaves precedence open. */
export type ModelOutcome = { ok: true; value?: unknown } | { ok: false; codes: readonly string[] };

/** An `Op` as generated: each path a `PathRef`, resolved against the model's tree when the call is made. */
type Unresolved<T> = { [K in keyof T]: K extends 'path' | 'from' | 'to' | 'existing' ? PathRef : T[K] };
type Distribute<T> = T extends unknown ? Unresolved<T> : never;
export type OpSpec = Distribute<Op>;

const PATH_FIELDS = ['path', 'from', 'to', 'existing'] as const;

/** The call `spec` names, its paths resolved against `fs` (the model of the tree it runs on). */
export function resolveOp(spec: OpSpec, fs: ReferenceFs): Op {
  const op: Record<string, unknown> = { ...spec };
  for (const field of PATH_FIELDS) {
    const ref = op[field];
    if (ref instanceof PathRef) op[field] = ref.resolve(fs);
  }
  return op as Op;
}

/**
 * A path to create or remove (as the union model's commands pick them): a literal one, an existing
 * entry, or a name in an existing directory, evenly; so most calls meet something that exists,
 * lower layers' entries included.
 */
const pathRef: fc.Arbitrary<PathRef> = fc.oneof(
  pathArb.map((literal) => new PathRef({ literal })),
  fc.nat({ max: 63 }).map((existing) => new PathRef({ existing })),
  fc.tuple(fc.nat({ max: 63 }), fc.constantFrom(...NAMES)).map(([inDir, name]) => new PathRef({ inDir, name })),
);

/** A path that should exist (the source of a rename or link): mostly an existing entry. */
const existingRef: fc.Arbitrary<PathRef> = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 63 }).map((existing) => new PathRef({ existing })) }, { weight: 1, arbitrary: pathRef });

/** A path that should be new (the target of a rename or link): mostly a name in an existing directory. */
const newRef: fc.Arbitrary<PathRef> = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(fc.nat({ max: 63 }), fc.constantFrom(...NAMES)).map(([inDir, name]) => new PathRef({ inDir, name })) },
  { weight: 1, arbitrary: pathRef },
);

/** A path to read: a literal one with `.`, `..` and `//` at times, or an existing entry. */
const readPathRef: fc.Arbitrary<PathRef> = fc.oneof(
  readPathArb.map((literal) => new PathRef({ literal })),
  fc.nat({ max: 63 }).map((existing) => new PathRef({ existing })),
);

const optionalMode = fc.option(modeArb, { nil: undefined });
const k = <K extends Op['kind']>(kind: K): fc.Arbitrary<K> => fc.constant(kind);

/** Calls that change a tree, weighted towards renames, writes and directories (where layers differ most). */
export const writeOpArb: fc.Arbitrary<OpSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: k('writeFile'), path: pathRef, data: bytesArb, mode: optionalMode }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: k('write'),
      path: pathRef,
      flags: fc.constantFrom<WriteFlags>('r+', 'r+', 'w', 'w+', 'wx', 'a', 'a+'),
      mode: optionalMode,
      position: offsetArb,
      data: smallBytesArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: k('truncate'), path: pathRef, len: offsetArb }) },
  { weight: 3, arbitrary: fc.record({ kind: k('mkdir'), path: pathRef, recursive: fc.boolean(), mode: optionalMode }) },
  { weight: 2, arbitrary: fc.record({ kind: k('rm'), path: pathRef, recursive: fc.boolean(), force: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('rmdir' as const, 'unlink' as const), path: pathRef }) },
  { weight: 2, arbitrary: fc.record({ kind: k('recreate'), path: existingRef, mode: optionalMode }) },
  { weight: 5, arbitrary: fc.record({ kind: k('rename'), from: existingRef, to: newRef }) },
  { weight: 2, arbitrary: fc.record({ kind: k('symlink'), target: targetArb, path: pathRef }) },
  { weight: 2, arbitrary: fc.record({ kind: k('link'), existing: existingRef, path: newRef }) },
  { weight: 2, arbitrary: fc.record({ kind: k('chmod'), path: pathRef, mode: modeArb }) },
  { weight: 1, arbitrary: fc.record({ kind: k('chown'), path: pathRef, uid: idArb, gid: idArb }) },
);

/** Calls that only read: lookups through whiteouts, opaque and redirected directories. */
export const readOpArb: fc.Arbitrary<OpSpec> = fc.record({
  kind: fc.constantFrom('readFile' as const, 'stat' as const, 'lstat' as const, 'readdir' as const, 'readlink' as const),
  path: readPathRef,
});

/** Mostly writes, some reads. */
export const containerOpArb: fc.Arbitrary<OpSpec> = fc.oneof({ weight: 5, arbitrary: writeOpArb }, { weight: 1, arbitrary: readOpArb });

export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'writeFile':
      return `writeFile(${q(op.path)}, ${op.data}${op.mode === undefined ? '' : `, { mode: 0o${op.mode.toString(8)} }`})`;
    case 'write':
      return `open(${q(op.path)}, '${op.flags}'${op.mode === undefined ? '' : `, 0o${op.mode.toString(8)}`}).write(${op.data}, at ${op.position})`;
    case 'truncate':
      return `truncate(${q(op.path)}, ${op.len})`;
    case 'mkdir':
      return `mkdir(${q(op.path)}, { recursive: ${op.recursive}${op.mode === undefined ? '' : `, mode: 0o${op.mode.toString(8)}`} })`;
    case 'rm':
      return `rm(${q(op.path)}, { recursive: ${op.recursive}, force: ${op.force} })`;
    case 'recreate':
      return `rm(${q(op.path)}, { recursive: true, force: true }) + mkdir(${q(op.path)}${op.mode === undefined ? '' : `, { mode: 0o${op.mode.toString(8)} }`})`;
    case 'rename':
      return `rename(${q(op.from)}, ${q(op.to)})`;
    case 'symlink':
      return `symlink(${q(op.target)}, ${q(op.path)})`;
    case 'link':
      return `link(${q(op.existing)}, ${q(op.path)})`;
    case 'chmod':
      return `chmod(${q(op.path)}, 0o${op.mode.toString(8)})`;
    case 'chown':
      return `chown(${q(op.path)}, ${op.uid}, ${op.gid})`;
    default:
      return `${op.kind}(${q(op.path)})`;
  }
}

function q(path: string): string {
  return JSON.stringify(path);
}

interface StatLike {
  mode: number;
  uid: number;
  gid: number;
  size: number | undefined;
  nlink: number;
}

/**
 * A stat result as the oracle compares it: type, mode, owner, and for non-directories size and
 * link count (a directory's size is not in API.md; its link count is 1 in a merged overlayfs
 * directory, documented).
 */
function statValue(type: string, st: StatLike): object {
  return type === 'dir' ? { type, mode: st.mode, uid: st.uid, gid: st.gid } : { type, mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink };
}

function bytesValue(bytes: Uint8Array): object {
  return { size: bytes.length, sha: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

/** Runs a call on a cowstack layer. */
export async function runOnLayer(layer: Layer, op: Op): Promise<Outcome> {
  try {
    return { ok: true, value: await layerCall(layer, op) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string') throw new Error(`cowstack threw something without a string code on ${describeOp(op)}`, { cause: error });
    return { ok: false, code };
  }
}

async function layerCall(layer: Layer, op: Op): Promise<unknown> {
  switch (op.kind) {
    case 'writeFile':
      return void (await layer.writeFile(op.path, op.data.make(), op.mode === undefined ? undefined : { mode: op.mode }));
    case 'write': {
      const handle = await layer.open(op.path, op.flags, op.mode);
      try {
        const data = op.data.make();
        await handle.write(data, 0, data.length, op.position);
      } finally {
        await handle.close();
      }
      return undefined;
    }
    case 'truncate':
      return void (await layer.truncate(op.path, op.len));
    case 'mkdir':
      return void (await layer.mkdir(op.path, op.mode === undefined ? { recursive: op.recursive } : { recursive: op.recursive, mode: op.mode }));
    case 'rm':
      return void (await layer.rm(op.path, { recursive: op.recursive, force: op.force }));
    case 'recreate':
      await layer.rm(op.path, { recursive: true, force: true });
      return void (await layer.mkdir(op.path, op.mode === undefined ? {} : { mode: op.mode }));
    case 'rmdir':
      return void (await layer.rmdir(op.path));
    case 'unlink':
      return void (await layer.unlink(op.path));
    case 'rename':
      return void (await layer.rename(op.from, op.to));
    case 'symlink':
      return void (await layer.symlink(op.target, op.path));
    case 'link':
      return void (await layer.link(op.existing, op.path));
    case 'chmod':
      return void (await layer.chmod(op.path, op.mode));
    case 'chown':
      return void (await layer.chown(op.path, op.uid, op.gid));
    case 'readFile':
      return bytesValue(await layer.readFile(op.path));
    case 'stat':
    case 'lstat': {
      const st = await layer[op.kind](op.path);
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
      return statValue(type, st);
    }
    case 'readdir':
      return await layer.readdir(op.path);
    case 'readlink':
      return await layer.readlink(op.path);
  }
}

/** Runs a call on the reference model (which follows API.md, and Linux where API.md is silent). */
export function runOnModel(fs: ReferenceFs, op: Op): ModelOutcome {
  try {
    return { ok: true, value: modelCall(fs, op) };
  } catch (error) {
    if (error instanceof ModelError) return { ok: false, codes: error.codes };
    throw error;
  }
}

function modelCall(fs: ReferenceFs, op: Op): unknown {
  switch (op.kind) {
    case 'writeFile':
      return fs.writeFile(op.path, op.data.make(), op.mode);
    case 'write':
      return void fs.open(op.path, op.flags, op.mode).write(op.data.make(), op.position);
    case 'truncate':
      return fs.truncate(op.path, op.len);
    case 'mkdir':
      return fs.mkdir(op.path, op.mode === undefined ? { recursive: op.recursive } : { recursive: op.recursive, mode: op.mode });
    case 'rm':
      return fs.rm(op.path, { recursive: op.recursive, force: op.force });
    case 'recreate':
      fs.rm(op.path, { recursive: true, force: true });
      return fs.mkdir(op.path, op.mode === undefined ? {} : { mode: op.mode });
    case 'rmdir':
      return fs.rmdir(op.path);
    case 'unlink':
      return fs.unlink(op.path);
    case 'rename':
      return fs.rename(op.from, op.to);
    case 'symlink':
      return fs.symlink(op.target, op.path);
    case 'link':
      return fs.link(op.existing, op.path);
    case 'chmod':
      return fs.chmod(op.path, op.mode);
    case 'chown':
      return fs.chown(op.path, op.uid, op.gid);
    case 'readFile':
      return bytesValue(fs.readFile(op.path));
    case 'stat':
    case 'lstat': {
      const st = fs[op.kind](op.path);
      return statValue(st.type, st);
    }
    case 'readdir':
      return fs.readdir(op.path).map((d) => d.name);
    case 'readlink':
      return fs.readlink(op.path);
  }
}

/** Runs a call through the overlay mount, in the jail. */
export async function runOnKernel(worker: KernelWorker, op: Op): Promise<Outcome> {
  const wire = 'data' in op ? { ...op, data: op.data.make().toString('base64') } : op;
  const reply: WorkerReply = await worker.call(wire);
  if (!reply.ok) return { ok: false, code: reply.code };
  switch (op.kind) {
    case 'readFile':
      return { ok: true, value: bytesValue(Buffer.from(reply.value as string, 'base64')) };
    case 'stat':
    case 'lstat': {
      const st = reply.value as StatLike & { type: string };
      return { ok: true, value: statValue(st.type, st) };
    }
    case 'readdir':
    case 'readlink':
      return { ok: true, value: reply.value };
    default:
      return { ok: true, value: undefined };
  }
}

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  if (a.ok !== b.ok) return false;
  if (!a.ok || !b.ok) return !a.ok && !b.ok && a.code === b.code;
  return JSON.stringify(a.value) === JSON.stringify(b.value);
}

/** Whether the model allows what an engine did. */
export function modelAllows(model: ModelOutcome, actual: Outcome): boolean {
  if (model.ok !== actual.ok) return false;
  if (!actual.ok) return !model.ok && model.codes.includes(actual.code);
  return model.ok && JSON.stringify(model.value) === JSON.stringify(actual.value);
}

export function describeOutcome(outcome: Outcome | ModelOutcome): string {
  if (outcome.ok) return outcome.value === undefined ? 'ok' : `ok ${JSON.stringify(outcome.value)}`;
  return 'code' in outcome ? outcome.code : outcome.codes.join('|');
}

/**
 * A reference model holding the tree `entries` lists (as `listTree` gives it): every entry made
 * with its mode and owner, hard links as links to the first name of their group.
 */
export function modelOfTree(fs: ReferenceFs, entries: readonly TreeEntry[]): ReferenceFs {
  for (const entry of entries) {
    const perm = entry.mode & 0o7777;
    if (entry.path === '/') {
      fs.chmod('/', perm);
      fs.chown('/', entry.uid, entry.gid);
    } else if (entry.linkGroup !== undefined && entry.linkGroup !== entry.path) {
      fs.link(entry.linkGroup, entry.path);
    } else if (entry.type === 'dir') {
      fs.mkdir(entry.path, { mode: perm });
      fs.chown(entry.path, entry.uid, entry.gid);
    } else if (entry.type === 'symlink') {
      fs.symlink(entry.target!, entry.path);
    } else {
      fs.writeFile(entry.path, entry.data!, perm);
      fs.chown(entry.path, entry.uid, entry.gid);
    }
  }
  return fs;
}
