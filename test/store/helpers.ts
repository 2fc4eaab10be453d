import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore, type CheckReport, type Layer, type OpenOptions, type Store } from '../../src/index.js';
import type { FileSystem } from '../../src/store/disk/FileSystem.js';

/** Run counts and kill counts from the environment: `COWSTACK_CRASH_KILLS=200 npx vitest run test/store`. */
export { envNumber } from '../conformance/storeFactories.js';

/** The repository root (for fixtures that run the built code in `dist/`). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const BLOCK = 4096;

/** Temporary directories made by a test file, removed by `removeAll()` (call it in `afterEach`). */
export class TempDirs {
  readonly #made: string[] = [];

  async make(prefix = 'cowstack-store-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.#made.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.#made.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

/** Options tests add to the public ones (src/openStore.ts, `InternalOpenOptions`). */
export interface DiskOptions extends OpenOptions {
  fileSystem?: FileSystem;
  packTarget?: number;
}

/** Opens a disk store with small blocks and the calling thread only, unless told otherwise. */
export function openDisk(dir: string, options: DiskOptions = {}): Promise<Store> {
  return openStore({ dir, workers: 0, blockSize: BLOCK, ...options } as OpenOptions);
}

export function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Every regular file under `/` of a layer: path → SHA-256 of its content. */
export async function fileHashes(layer: Layer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (dir: string): Promise<void> => {
    for (const entry of await layer.readdir(dir, { withFileTypes: true })) {
      const path = dir === '/' ? `/${entry.name}` : `${dir}/${entry.name}`;
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) out[path] = sha(await layer.readFile(path));
    }
  };
  await visit('/');
  return sortKeys(out);
}

export function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Keys of every snapshot, sorted. */
export async function snapshotKeys(store: Store): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.walk()) keys.push(info.key);
  return keys.sort();
}

/** A readable summary of a failed check. */
export function describeCheck(report: CheckReport): string {
  return report.problems.map((p) => `${p.code} ${p.key ?? '-'} ${p.path ?? '-'}: ${p.message}`).join('\n');
}

/** The sum of the sizes of every file under `dir` (what `du --apparent-size` counts). */
export async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const info = await stat(path);
    total += info.isDirectory() ? await dirBytes(path) : info.size;
  }
  return total;
}

/** Content that is different for every (seed, index): incompressible, never zero blocks. */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** One record of a pack file, as packFormat.ts describes it. */
export interface ScannedRecord {
  kind: number;
  id: string;
  /** Offset of the record (its header) in the pack. */
  offset: number;
  /** Offset of the payload. */
  payloadAt: number;
  length: number;
}

export const PACK_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 48;

/**
 * Reads a pack file by the documented format (src/store/disk/packFormat.ts):
 * `"CWPK" u32 version u32 pack u32 0`, then records `"CWRC" u8 kind u8[3] u32 length id[32] u32 crc payload`.
 * Stops at the first thing that is not a whole record.
 */
export async function scanPack(path: string): Promise<ScannedRecord[]> {
  const bytes = await readFile(path);
  if (bytes.toString('latin1', 0, 4) !== 'CWPK') throw new Error(`${path} is not a pack`);
  const records: ScannedRecord[] = [];
  let at = PACK_HEADER_BYTES;
  while (at + RECORD_HEADER_BYTES <= bytes.length && bytes.toString('latin1', at, at + 4) === 'CWRC') {
    const length = bytes.readUInt32LE(at + 8);
    if (at + RECORD_HEADER_BYTES + length > bytes.length) break;
    records.push({ kind: bytes[at + 4]!, id: bytes.toString('hex', at + 12, at + 44), offset: at, payloadAt: at + RECORD_HEADER_BYTES, length });
    at += RECORD_HEADER_BYTES + length;
  }
  return records;
}

/** The pack files of a store, oldest first, as full paths. */
export async function packFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'packs'))).filter((name) => /^[0-9a-f]{8}\.pack$/.test(name)).sort().map((name) => join(dir, 'packs', name));
}

/** Where the record with id `id` is, searching every pack. */
export async function findRecord(dir: string, id: string): Promise<{ pack: string; record: ScannedRecord } | undefined> {
  for (const pack of await packFiles(dir)) {
    const record = (await scanPack(pack)).find((r) => r.id === id);
    if (record !== undefined) return { pack, record };
  }
  return undefined;
}

/** Resolves to the error a promise rejected with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection, but it resolved');
}

/**
 * A child process running a fixture of test/fixtures (which imports the built engine from
 * `dist/`), its stdout taken as JSON lines.
 */
export class FixtureProcess {
  readonly child: ChildProcess;
  /** Every JSON line printed so far, in order. */
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  #partial = '';
  #waiters: (() => void)[] = [];

  constructor(fixture: string, args: readonly string[]) {
    this.child = spawn(process.execPath, [join(FIXTURES, fixture), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      this.#partial += chunk;
      let newline: number;
      while ((newline = this.#partial.indexOf('\n')) >= 0) {
        const line = this.#partial.slice(0, newline);
        this.#partial = this.#partial.slice(newline + 1);
        if (line.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ unparsed: line });
        }
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        for (const wake of this.#waiters.splice(0)) wake();
        resolve({ code, signal });
      });
    });
    this.exited.then(() => undefined, () => undefined);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once a printed line satisfies `test` (to that line), or rejects when the child exits first or time runs out. */
  async waitFor(test: (line: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (let seen = 0; ; ) {
      for (; seen < this.lines.length; seen++) if (test(this.lines[seen]!)) return this.lines[seen]!;
      if (!this.running) throw new Error(`fixture exited before printing the line awaited; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fixture did not print the line awaited within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** SIGKILLs the child and resolves once it has exited (and is reaped: no zombie holds its pid). */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}
