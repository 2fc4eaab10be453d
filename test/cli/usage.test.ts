import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, cowstack, expectErrorLine } from './run.js';

describe('cowstack: help, version and usage errors', () => {
  it('--version prints the package version', async () => {
    const manifest = JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    const result = await cowstack(['--version']);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`cowstack ${manifest.version}\n`);
  });

  it('--help lists every command and documents exit codes', async () => {
    const result = await cowstack(['--help']);
    expect(result.status).toBe(0);
    for (const name of COMMANDS) expect(result.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    expect(result.stdout).toMatch(/^ {2}push /m);
    expect(result.stdout).toMatch(/^ {2}pull /m);
    for (const status of ['2 ', '3 ', '4 ', '5 ', '130']) expect(result.stdout).toMatch(new RegExp(`^  ${status}`, 'm'));
  });

  it('every command has --help with its synopsis and an example', async () => {
    const results = await Promise.all(COMMANDS.map((name) => cowstack([name, '--help'])));
    results.forEach((result, i) => {
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: cowstack ${COMMANDS[i]}\\b`));
      expect(result.stdout).toMatch(new RegExp(`^Examples?:\\n  cowstack `, 'm'));
    });
  });

  it('usage errors exit 2 with one line', async () => {
    const cases: string[][] = [[], ['frobnicate'], ['push', 'a'], ['pull'], ['ls', '--bogus'], ['prepare'], ['view', 'a'], ['rm', 'a', 'b'], ['--bogus', 'ls'], ['init', '--block-size', 'lots']];
    const results = await Promise.all(cases.map((args) => cowstack(args)));
    results.forEach((result, i) => {
      expect(result.status, cases[i]!.join(' ')).toBe(2);
      expectErrorLine(result.stderr, 'EUSAGE');
      expect(result.stdout).toBe('');
    });
    expect(results[2]!.stderr).toContain('missing REF');
  });
});

