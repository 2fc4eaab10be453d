import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, constants, lstat, mkdir, mkdtemp, readFile, readdir, readlink, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

/**
 * The kernel side of the overlayfs oracle: scratch directories, overlay mounts, and a node process
 * chrooted into a merged overlay so that paths and symbolic links resolve inside it as they do in a
 * cowstack layer (an absolute target from the layer's root, `..` at the root staying there).
 *
 * Safety: every mount is made under a scratch directory `TMPDIR/cowstack-overlay-PID-XXXXXX`; a
 * scratch directory is deleted only after /proc/self/mountinfo shows nothing mounted below it, so
 * a recursive delete can never walk into a bind mount of the host. The host directories the jailed
 * node needs are bind-mounted read-only (and checked to be so).
 */

const execFileAsync = promisify(execFile);

export const SCRATCH_PREFIX = 'cowstack-overlay-';

/** Runs a tool; rejects with its stderr in the message. */
export async function sh(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { encoding: 'utf8' });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`${command} ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { cause: error });
  }
}

async function findTool(name: string): Promise<string | undefined> {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The tools the oracle runs, each by absolute path. */
export interface Tools {
  mount: string;
  umount: string;
  mknod: string;
  setfattr: string;
  getfattr: string;
  chroot: string;
}

let tools: Tools | undefined;

/** The tools found by `overlayUnavailable()`; throws when it was not called or found them missing. */
export function requireTools(): Tools {
  if (tools === undefined) throw new Error('overlayUnavailable() must find the tools first');
  return tools;
}

/**
 * Why the oracle cannot run here, or `undefined` when it can: Linux, root, overlay in
 * /proc/filesystems, the tools (`mount`, `umount`, `mknod`, `chroot`, `setfattr` and `getfattr`
 * from the `attr` package), and a trial mount that hides a whiteout and honours an opaque directory.
 */
export async function overlayUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `overlayfs needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'mounting overlayfs needs root';
  let filesystems = '';
  try {
    filesystems = await readFile('/proc/filesystems', 'utf8');
  } catch {
    return 'cannot read /proc/filesystems';
  }
  if (!/\boverlay\b/.test(filesystems)) return 'the kernel has no overlay filesystem (not in /proc/filesystems; try `modprobe overlay`)';
  const found: Partial<Record<keyof Tools, string>> = {};
  const missing: string[] = [];
  for (const name of ['mount', 'umount', 'mknod', 'setfattr', 'getfattr', 'chroot'] as const) {
    const path = await findTool(name);
    if (path === undefined) missing.push(name === 'setfattr' || name === 'getfattr' ? `${name} (apt-get install attr)` : name);
    else found[name] = path;
  }
  if (missing.length > 0) return `missing tools: ${missing.join(', ')}`;
  tools = found as Tools;
  try {
    await trialMount();
  } catch (error) {
    return `a trial overlay mount failed: ${(error as Error).message}`;
  }
  return undefined;
}

async function trialMount(): Promise<void> {
  const scratch = await Scratch.create();
  try {
    const lower = scratch.path('lower');
    const upper = scratch.path('upper');
    await mkdir(join(lower, 'd'), { recursive: true });
    await mkdir(join(upper, 'd'), { recursive: true });
    await sh(requireTools().mknod, [join(upper, 'gone'), 'c', '0', '0']);
    await sh(requireTools().setfattr, ['-n', 'trusted.overlay.opaque', '-v', 'y', join(upper, 'd')]);
    await mkdir(join(lower, 'gone'));
    await mkdir(join(lower, 'd', 'hidden'));
    const merged = scratch.path('merged');
    await mountOverlay(merged, { lowers: [upper, lower] });
    try {
      const names = (await readdir(merged)).sort();
      if (names.join() !== 'd') throw new Error(`a whiteout was not honoured: the merged root lists ${names.join(', ')}`);
      if ((await readdir(join(merged, 'd'))).length !== 0) throw new Error('an opaque directory was merged with the one below');
    } finally {
      await unmount(merged);
    }
    // The options the oracle's container mounts use, on the scratch directory's filesystem.
    const writable = scratch.path('writable');
    await mountOverlay(writable, { lowers: [upper, lower], upper: await scratch.sub('rw'), work: scratch.path('work'), redirectDir: true, index: true, volatile: true });
    await unmount(writable);
  } finally {
    await scratch.dispose();
  }
}

export interface OverlayOptions {
  /** Layer directories, topmost first. */
  lowers: readonly string[];
  upper?: string;
  work?: string;
  /** `redirect_dir=on`: renaming a lower or merged directory works instead of failing with EXDEV. */
  redirectDir?: boolean;
  /** `index=on`: copy-up keeps lower hard links together. */
  index?: boolean;
  readOnly?: boolean;
  /**
   * `volatile`: no syncs of the upper filesystem (the scratch directory's, shared with the rest of
   * the machine), at mount or unmount. It leaves `WORK/work/incompat/volatile` behind, which
   * `mountOverlay` removes before mounting the same upper directory again.
   */
  volatile?: boolean;
}

/** `mount -t overlay` at `target` (created when missing). */
export async function mountOverlay(target: string, options: OverlayOptions): Promise<void> {
  await mkdir(target, { recursive: true });
  const parts = [`lowerdir=${options.lowers.join(':')}`];
  if (options.upper !== undefined) {
    if (options.work === undefined) throw new TypeError('an upper directory needs a work directory');
    await mkdir(options.work, { recursive: true });
    await rm(join(options.work, 'work', 'incompat', 'volatile'), { recursive: true, force: true });
    parts.push(`upperdir=${options.upper}`, `workdir=${options.work}`);
  }
  if (options.redirectDir === true) parts.push('redirect_dir=on');
  if (options.index === true) parts.push('index=on');
  if (options.readOnly === true) parts.push('ro');
  if (options.volatile === true) parts.push('volatile');
  await sh(requireTools().mount, ['-t', 'overlay', 'overlay', '-o', parts.join(','), target]);
}

/** Unmounts `target` and everything mounted below it; lazily when busy. */
export async function unmount(target: string): Promise<void> {
  const { umount } = requireTools();
  try {
    await sh(umount, ['-R', target]);
  } catch {
    await sh(umount, ['-l', target]);
  }
}

/** Detaches the given mounts (and what is mounted below them) at once, in one `umount -l`; ignores ones not mounted. */
export async function detachAll(points: readonly string[]): Promise<void> {
  if (points.length === 0) return;
  try {
    await sh(requireTools().umount, ['-l', ...points]);
  } catch {
    // some were not mounted (any left over are caught by removeScratch)
  }
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => unescapeMountPath(line.split(' ')[4]!))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** The options of the mount at `point` (the last one mounted there). */
async function mountOptions(point: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let options: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields[4] !== undefined && unescapeMountPath(fields[4]) === point) options = fields[5]!.split(',');
  }
  return options;
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Deletes `dir` after unmounting (lazily) everything below it; refuses, throwing, when a mount
 * is still there afterwards, so that the delete cannot reach into anything mounted.
 */
export async function removeScratch(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    try {
      await sh(requireTools().umount, ['-l', point]);
    } catch {
      // already gone (a lazy unmount of its parent took it)
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`refusing to delete ${dir}: still mounted below it: ${left.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Removes what earlier runs left behind: scratch directories (and their mounts) of processes that
 * no longer exist. Scratch directories of live processes (a concurrent test file) are left alone.
 */
export async function sweepLeftovers(): Promise<string[]> {
  const swept: string[] = [];
  const root = tmpdir();
  for (const name of await readdir(root)) {
    const match = new RegExp(`^${SCRATCH_PREFIX}(\\d+)-`).exec(name);
    if (match === null || processAlive(Number(match[1]))) continue;
    await removeScratch(join(root, name));
    swept.push(name);
  }
  return swept;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/** A scratch directory of this process, named so that `sweepLeftovers` can tell whose it is. */
export class Scratch {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`)));
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** A fresh subdirectory. */
  async sub(name: string): Promise<string> {
    const dir = this.path(name);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async dispose(): Promise<void> {
    await removeScratch(this.dir);
  }
}

/** What the jailed worker answers for one call. */
export type WorkerReply = { ok: true; value?: unknown } | { ok: false; code: string; message?: string };

const WORKER_SOURCE = readFileSync(new URL('./jailWorker.mjs', import.meta.url), 'utf8');

/**
 * The host directories a jailed node needs, as a skeleton directory to put at the bottom of an
 * overlay: an empty directory for each one bind-mounted over it (read-only), a symbolic link for
 * each host link (`lib -> usr/lib` on a merged-/usr system). Their names are `hidden`: every
 * comparison leaves them out at the root, and the tests never use them (they use a, b, c, z).
 */
export class Jail {
  readonly skeleton: string;
  readonly hidden: ReadonlySet<string>;
  readonly #binds: readonly string[];
  readonly #node: string;

  private constructor(skeleton: string, hidden: ReadonlySet<string>, binds: readonly string[], node: string) {
    this.skeleton = skeleton;
    this.hidden = hidden;
    this.#binds = binds;
    this.#node = node;
  }

  static async create(skeleton: string): Promise<Jail> {
    await mkdir(skeleton, { recursive: true });
    const node = await realpath(process.execPath);
    const names = new Set(['usr', 'lib', 'lib64', 'lib32', 'libx32', 'bin', 'sbin', node.split('/')[1]!]);
    const binds: string[] = [];
    for (const name of names) {
      let stats;
      try {
        stats = await lstat(`/${name}`);
      } catch {
        continue;
      }
      if (stats.isSymbolicLink()) {
        await symlink(await readlink(`/${name}`), join(skeleton, name));
      } else if (stats.isDirectory()) {
        await mkdir(join(skeleton, name));
        binds.push(name);
      }
    }
    return new Jail(skeleton, new Set(await readdir(skeleton)), binds, node);
  }

  /**
   * Bind-mounts the host directories into `merged` (an overlay whose bottom layer is the
   * skeleton), read-only, and starts a node process chrooted there.
   */
  async enter(merged: string): Promise<KernelWorker> {
    for (const name of this.#binds) {
      const point = join(merged, name);
      await sh(requireTools().mount, ['--bind', '-o', 'ro', `/${name}`, point]);
      if (!(await mountOptions(point)).includes('ro')) {
        await unmount(point);
        throw new Error(`the bind mount of /${name} at ${point} is not read-only: refusing to go on`);
      }
    }
    const child = spawn(requireTools().chroot, [merged, this.#node, '--input-type=module', '-e', WORKER_SOURCE], {
      env: { COWSTACK_JAIL_HIDDEN: JSON.stringify([...this.hidden]) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const worker = new KernelWorker(child);
    const hello = await worker.call({ kind: 'ping' });
    if (!hello.ok) throw new Error(`the jailed worker did not start: ${JSON.stringify(hello)}`);
    return worker;
  }
}

/** A node process inside the jail running `jailWorker.mjs`: one JSON line per call and per answer. */
export class KernelWorker {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: AsyncIterator<string>;
  #stderr = '';

  constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    this.#lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
    child.stdin.on('error', () => undefined);
  }

  async call(message: object): Promise<WorkerReply> {
    this.#child.stdin.write(`${JSON.stringify(message)}\n`);
    const { value, done } = await this.#lines.next();
    if (done === true) throw new Error(`the jailed worker exited (${this.#child.exitCode ?? this.#child.signalCode}): ${this.#stderr.trim()}`);
    return JSON.parse(value) as WorkerReply;
  }

  /** Ends the worker (it holds nothing worth a clean exit) and waits until it is gone. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.kill('SIGKILL');
    await exited;
  }
}
