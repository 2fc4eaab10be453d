/**
 * Runs the built `cowstack` (dist/src/cli/main.js; `npm test` builds first) as a child process,
 * the way a user does, and makes the trees the CLI tests import.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { TarWriter, type TarWriterHeader } from '../../dist/src/image/tar/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const MAIN = join(ROOT, 'dist/src/cli/main.js');
export const DEMO = join(ROOT, 'dist/src/cli/demo.js');

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  raw: Buffer;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** The environment of a child: the test's, without a store of its own unless given. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.COWSTACK_STORE;
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Starts `node main.js ARGS…` without waiting. */
export function start(args: readonly string[], options: RunOptions = {}): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { cwd: options.cwd ?? ROOT, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Collects a started child's output and status. */
export function finish(child: ChildProcess): Promise<Result> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => {
      const raw = Buffer.concat(out);
      resolvePromise({ status, signal, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), raw });
    });
  });
}

/** Runs `cowstack ARGS…` to the end. */
export function cowstack(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  return finish(start(args, options));
}

/** Runs `cowstack --store STORE ARGS…` and parses its standard output as JSON, expecting exit 0. */
export async function cowstackJson<T>(store: string, args: readonly string[]): Promise<T> {
  const result = await cowstack(['--store', store, ...args]);
  if (result.status !== 0) throw new Error(`cowstack ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

const made: string[] = [];

/** A fresh directory, removed by `removeTempDirs` (each test file's `afterAll`). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `cowstack-cli-${prefix}-`));
  made.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** Deterministic bytes that do not repeat within a block. */
export function pattern(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  return out;
}

/**
 * A small tree: a text file, a 200 KiB file, an executable, a symbolic link and a hard link,
 * with fixed mtimes.
 */
export async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'data'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(dir, 'data/big.bin'), pattern(200 * 1024, 7));
  await writeFile(join(dir, 'bin/tool'), '#!/bin/sh\necho tool\n');
  await chmod(join(dir, 'bin/tool'), 0o755);
  await symlink('etc/hosts', join(dir, 'hosts-link'));
  await link(join(dir, 'etc/hosts'), join(dir, 'etc/hosts.hard'));
  const time = new Date('2024-01-02T03:04:05Z');
  for (const path of ['etc/hosts', 'data/big.bin', 'bin/tool', 'etc', 'data', 'bin', '.']) await utimes(join(dir, path), time, time);
}

/** True when util-linux `script` can give a child a pseudo-terminal here. */
export function hasScript(): boolean {
  if (!existsSync('/usr/bin/script') && spawnSync('sh', ['-c', 'command -v script']).status !== 0) return false;
  return spawnSync('script', ['-qec', 'true', '/dev/null']).status === 0;
}

/** Polls until `predicate` holds, at most `ms`. */
export async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (predicate()) return true;
    await new Promise((resolveWait) => setTimeout(resolveWait, 10));
  }
  return predicate();
}

/** A tar archive of `entries`, made by cowstack's own writer. */
export async function makeTar(entries: readonly { header: TarWriterHeader; body?: Uint8Array }[]): Promise<Buffer> {
  const writer = new TarWriter();
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const chunk of writer) chunks.push(chunk);
  })();
  for (const { header, body } of entries) await writer.add(header, body);
  await writer.finish();
  await collected;
  return Buffer.concat(chunks);
}

/** Every command's one-line error: `cowstack: CODE: message`, nothing else on stderr. */
export function expectErrorLine(stderr: string, code: string): void {
  const lines = stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^cowstack: ${code}: \\S`));
}

/** Exit 0; otherwise the failure shows the command's stderr. */
export function expectOk(result: { status: number | null; stderr: string }): void {
  expect(result.status, result.stderr).toBe(0);
}

/** The subcommands, in the order of shared/API.md. */
export const COMMANDS = ['init', 'import', 'prepare', 'view', 'commit', 'rm', 'ls', 'tree', 'diff', 'cat', 'cp', 'export', 'df', 'gc', 'check', 'recover', 'push', 'pull'];
