import { describe, expect, it } from 'vitest';
import { Interrupted, UsageError, errorLine, exitStatusOf } from '../../src/cli/exitStatus.js';
import { formatAgo, formatBytes, formatDuration, formatTable } from '../../src/cli/format.js';
import { ProgressBar } from '../../src/cli/ProgressBar.js';
import { fsError } from '../../src/core/errors.js';

describe('command-line formatting', () => {
  it('sizes in binary units, ages as docker says them, durations as m:ss', () => {
    expect([0, 512, 1024, 65536, 1536 * 1024, 5 * 1024 ** 3, -2048].map(formatBytes)).toEqual(['0 B', '512 B', '1.00 KiB', '64.0 KiB', '1.50 MiB', '5.00 GiB', '-2.00 KiB']);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect([0, 1, 59, 60, 7200, 86400 * 3].map((s) => formatAgo(new Date(now - s * 1000), now))).toEqual(['just now', '1 second ago', '59 seconds ago', '1 minute ago', '2 hours ago', '3 days ago']);
    expect([5, 65, 3725].map(formatDuration)).toEqual(['0:05', '1:05', '1:02:05']);
  });

  it('tables align columns, numbers to the right', () => {
    expect(formatTable([{ header: 'KEY' }, { header: 'SIZE', align: 'right' }, { header: 'KIND' }], [['a', '1 B', 'active'], ['long-key', '10.0 KiB', 'view']])).toEqual([
      'KEY           SIZE  KIND',
      'a              1 B  active',
      'long-key  10.0 KiB  view',
    ]);
  });

  it('a progress bar shows the share, amounts, rate and ETA, fitted to the terminal, and erases itself', () => {
    const written: string[] = [];
    let now = 0;
    const bar = new ProgressBar({ isTTY: true, columns: 80, write: (text: string) => written.push(text) }, 'import base', () => now);
    expect(bar.render({ done: 25 << 20, total: 100 << 20, unit: 'bytes' }, 5)).toBe('import base [#####---------------]  25%  25.0 MiB/100 MiB  5.00 MiB/s  ETA 0:15');
    expect(bar.render({ done: 10, unit: 'blocks' }, 0)).toBe('import base  10 blocks');
    bar.update({ done: 0, total: 10, unit: 'blocks' });
    now = 50;
    bar.update({ done: 5, total: 10, unit: 'blocks' }); // within 100 ms of the last draw: skipped
    now = 500;
    bar.update({ done: 10, total: 10, unit: 'blocks' });
    bar.done();
    bar.done();
    expect(written).toHaveLength(3);
    expect(written[1]).toMatch(/^\rimport base \[#+\] 100%  10 blocks\/10 blocks  20 blocks\/s  ETA 0:00\x1b\[K$/);
    expect(written[2]).toBe('\r\x1b[K');
    expect(new ProgressBar({ columns: 50, write: () => undefined }, 'x').render({ done: 1, total: 2, unit: 'bytes' }, 1).length).toBeLessThanOrEqual(49);
  });

  it('errors become one line and an exit status by their code', () => {
    expect(errorLine(fsError('ENOENT', { syscall: 'stat', path: 'x', detail: 'no snapshot \'x\'' }))).toBe('cowstack: ENOENT: no snapshot \'x\', stat \'x\'');
    expect(errorLine(new UsageError('missing KEY\nsee help'))).toBe('cowstack: EUSAGE: missing KEY see help');
    expect(errorLine(new TypeError('bad'))).toBe('cowstack: TypeError: bad');
    expect(errorLine(new Interrupted('SIGINT'))).toBe('cowstack: ABORT_ERR: interrupted by SIGINT');
    const statuses = [new UsageError('u'), fsError('ENOENT'), fsError('EINTEGRITY'), fsError('ELOCKED'), fsError('EEXIST'), new Interrupted('SIGINT'), new Interrupted('SIGTERM'), fsError('ABORT_ERR'), new Error('x')].map(exitStatusOf);
    expect(statuses).toEqual([2, 3, 4, 5, 1, 130, 143, 130, 1]);
  });
});
