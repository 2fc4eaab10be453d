import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, readlink, symlink, unlink, utimes } from 'node:fs/promises';
import { basename, join, posix, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Layer, Stats, Store } from '../../index.js';
import { fsError, unlessMissing } from '../../core/errors.js';
import { exportTreeFrom } from '../../image/treeExport.js';
import { importTreeInto } from '../../image/treeImport.js';
import type { Args, Command, CommandContext } from '../Command.js';
import { UsageError } from '../exitStatus.js';
import { ScopedLayer } from '../ScopedLayer.js';

/** A `KEY:PATH` operand, once its key is known. */
interface SnapshotPath {
  readonly key: string;
  /** Absolute inside the snapshot. */
  readonly path: string;
  /** The operand ended in `/`: a directory is meant. */
  readonly directory: boolean;
}

/** A host path is absolute or starts with `.`; anything else with a `:` is `KEY:PATH`. */
function isSnapshotOperand(operand: string): boolean {
  return !operand.startsWith('/') && !operand.startsWith('.') && operand.includes(':');
}

/** Which operand is the snapshot's; exactly one must be. */
function direction(args: Args): 'in' | 'out' {
  const [source, dest] = args.operands as [string, string];
  const sourceInStore = isSnapshotOperand(source);
  if (sourceInStore === isSnapshotOperand(dest)) throw new UsageError('one of SRC and DST must be KEY:PATH and the other a host path (write ./a:b for a host path with a colon)');
  return sourceInStore ? 'out' : 'in';
}

/**
 * Splits `KEY:PATH` where the part before a colon is a snapshot's key; keys may hold colons
 * themselves (`sha256:…`), so each colon is tried from the left.
 */
async function snapshotPath(store: Store, operand: string): Promise<SnapshotPath> {
  const keys = new Set<string>();
  for await (const info of store.walk()) keys.add(info.key);
  for (let colon = operand.indexOf(':'); colon !== -1; colon = operand.indexOf(':', colon + 1)) {
    const key = operand.slice(0, colon);
    if (!keys.has(key)) continue;
    const path = operand.slice(colon + 1);
    return { key, path: posix.resolve('/', path), directory: path.endsWith('/') };
  }
  const slash = operand.indexOf(':/');
  const key = slash === -1 ? operand.slice(0, operand.lastIndexOf(':')) : operand.slice(0, slash);
  throw fsError('ENOENT', { syscall: 'cp', path: key, detail: `no snapshot '${key}'` });
}

export const cp: Command = {
  name: 'cp',
  operands: 'SRC DST',
  arity: [2, 2],
  summary: 'copy files between a snapshot and the host',
  description:
    'Copies a file, symbolic link or directory between a snapshot and the host, as `docker cp` does: one side is\n' +
    'KEY:PATH, the other a host path (a host path with a colon must start with / or ./). When DST is an existing\n' +
    'directory the copy goes inside it, under SRC\'s name; a DST ending in / must be an existing directory.\n' +
    'A file overwrites a file; a directory is copied as a new directory and never merged into an existing one\n' +
    '(EEXIST). Symbolic links are copied as links. Modes and mtimes are kept, and owners inside the snapshot.\n' +
    'Only an active snapshot can be copied into.',
  examples: ['cowstack cp web-1:/etc/nginx/nginx.conf ./nginx.conf', 'cowstack cp ./site web-1:/usr/share/nginx/html'],
  options: {},
  access: (args) => (direction(args) === 'in' ? 'write' : 'read'),
  bulk: true,
  async run(context, args) {
    const [source, dest] = args.operands as [string, string];
    if (direction(args) === 'out') await copyOut(context, await snapshotPath(context.store, source), resolve(dest), dest.endsWith('/'));
    else await copyIn(context, resolve(source), await snapshotPath(context.store, dest));
  },
};

async function copyOut(context: CommandContext, from: SnapshotPath, dest: string, destIsDirectory: boolean): Promise<void> {
  const layer = new ScopedLayer(await context.store.mount(from.key), '/', { signal: context.signal });
  const stats = await layer.lstat(from.path);
  const existing = await hostStat(dest);
  let target = dest;
  if (existing?.isDirectory() && from.path !== '/') target = join(dest, posix.basename(from.path));
  else if (existing === undefined && destIsDirectory) throw fsError('ENOENT', { syscall: 'cp', path: dest, detail: 'the destination directory does not exist' });
  if (stats.isDirectory()) {
    await exportTreeFrom(new ScopedLayer(layer, from.path), target);
    return;
  }
  const present = target === dest ? existing : await hostStat(target);
  if (present?.isDirectory()) throw fsError('EISDIR', { syscall: 'cp', path: target });
  if (present !== undefined) await unlink(target);
  if (stats.isSymbolicLink()) {
    await symlink(await layer.readlink(from.path), target);
    return;
  }
  await pipeline(layer.createReadStream(from.path), createWriteStream(target, { flags: 'wx', mode: 0o600 }), { signal: context.signal });
  await chmod(target, stats.mode & 0o777);
  await utimes(target, stats.mtime, stats.mtime);
}

async function copyIn(context: CommandContext, source: string, to: SnapshotPath): Promise<void> {
  const mounted = await context.store.mount(to.key);
  if (mounted.readOnly) throw fsError('EROFS', { syscall: 'cp', path: to.key, detail: `snapshot '${to.key}' is not active: only an active snapshot can be written` });
  const layer = new ScopedLayer(mounted, '/', { signal: context.signal });
  const stats = await lstat(source);
  const existing = await layerStat(layer, to.path, true);
  let target = to.path;
  if (existing?.isDirectory()) target = posix.join(to.path, basename(source));
  else if (existing === undefined && to.directory) throw fsError('ENOENT', { syscall: 'cp', path: to.path, detail: 'the destination directory does not exist' });
  const present = await layerStat(layer, target, false);
  if (stats.isDirectory()) {
    if (present !== undefined) throw fsError('EEXIST', { syscall: 'cp', path: target, detail: 'cp copies a directory as a new one and does not merge' });
    await layer.mkdir(target, { mode: stats.mode & 0o7777 });
    await importTreeInto(new ScopedLayer(layer, target), source);
    return;
  }
  if (present?.isDirectory()) throw fsError('EISDIR', { syscall: 'cp', path: target });
  if (stats.isSymbolicLink()) {
    if (present !== undefined) await layer.unlink(target);
    await layer.symlink(await readlink(source), target);
    await layer.lchown(target, stats.uid, stats.gid);
    await layer.lutimes(target, stats.atime, stats.mtime);
    return;
  }
  if (!stats.isFile()) throw fsError('EINVAL', { syscall: 'cp', path: source, detail: 'sockets, FIFOs and device nodes cannot be copied' });
  await pipeline(createReadStream(source), layer.createWriteStream(target), { signal: context.signal });
  await layer.chmod(target, stats.mode & 0o7777);
  await layer.chown(target, stats.uid, stats.gid);
  await layer.utimes(target, stats.atime, stats.mtime);
}

function hostStat(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  return unlessMissing(lstat(path));
}

function layerStat(layer: Layer, path: string, follow: boolean): Promise<Stats | undefined> {
  return unlessMissing(follow ? layer.stat(path) : layer.lstat(path));
}
