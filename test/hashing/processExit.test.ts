import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A process that has not exited by then is kept alive by the pool. */
const EXIT_WITHIN_MS = 8000;

/**
 * Each script runs in a child node with no handle of its own, so it exits exactly when the pool lets
 * it. The child needs JavaScript: `beforeAll` transpiles `src/core` and `src/hashing` to a temp dir.
 */
describe('a process using WorkerPoolHasher', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cowstack-hash-exit-'));
    for (const sub of ['src/core', 'src/hashing']) {
      await mkdir(join(dir, sub), { recursive: true });
      for (const file of (await readdir(join(ROOT, sub))).filter((name) => name.endsWith('.ts'))) {
        const { outputText } = ts.transpileModule(await readFile(join(ROOT, sub, file), 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
        });
        await writeFile(join(dir, sub, file.replace(/\.ts$/, '.js')), outputText);
      }
    }
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (body: string): Promise<string> => {
    const script = join(dir, `script-${Math.random().toString(36).slice(2)}.js`);
    await writeFile(
      script,
      `import { WorkerPoolHasher } from './src/hashing/WorkerPoolHasher.js';\n` +
        `const blocks = Array.from({ length: 4096 }, (_, i) => new Uint8Array(4096).fill(i));\n${body}\n`,
    );
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [script], { timeout: EXIT_WITHIN_MS }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\nsignal: ${error.signal}\n${stderr}`));
        else resolve(stdout);
      });
    });
  };

  it('exits by itself after using and closing a pool', async () => {
    const out = await run(`const pool = new WorkerPoolHasher(2);
console.log((await pool.hash(blocks)).length);
await pool.close();`);
    expect(out.trim()).toBe('4096');
  });

  it('exits by itself when an idle pool was never closed', async () => {
    const out = await run(`const pool = new WorkerPoolHasher(2);
console.log((await pool.hash(blocks)).length);`);
    expect(out.trim()).toBe('4096');
  });

  it('exits by itself when a pool was made and never used', async () => {
    await run('new WorkerPoolHasher(2);');
  });

  it('stays alive while a hash is pending, with nothing else to keep it', async () => {
    const out = await run(`const pool = new WorkerPoolHasher(1);
pool.hash(blocks).then((ids) => console.log(ids.length));`);
    expect(out.trim()).toBe('4096');
  });
});
