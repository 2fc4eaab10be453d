import type { Progress } from '../index.js';
import type { ProgressSink } from './Command.js';
import { formatBytes, formatCount, formatDuration } from './format.js';

/** The stream a bar draws on: a terminal's. */
export interface TerminalStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Redraws at most this often. */
const REDRAW_MS = 100;
/** Below this many seconds of history the rate (and so the ETA) is not yet worth showing. */
const MIN_RATE_SECONDS = 0.2;

/**
 * A one-line progress bar on a terminal: label, bar, percentage, amount done of the total, rate
 * and ETA, redrawn in place (`\r`, erase line) at most ten times a second, and erased by
 * `done()` so that the command's own output starts on a clean line. Without a total it shows the
 * amount and rate only.
 */
export class ProgressBar implements ProgressSink {
  readonly #stream: TerminalStream;
  readonly #label: string;
  readonly #now: () => number;
  readonly #started: number;
  #lastDraw = -Infinity;
  #drawn = false;
  #finished = false;

  constructor(stream: TerminalStream, label: string, now: () => number = () => performance.now()) {
    this.#stream = stream;
    this.#label = label;
    this.#now = now;
    this.#started = now();
  }

  readonly update = (progress: Progress): void => {
    if (this.#finished) return;
    const now = this.#now();
    const complete = progress.total !== undefined && progress.done >= progress.total;
    if (now - this.#lastDraw < REDRAW_MS && !complete) return;
    this.#lastDraw = now;
    this.#drawn = true;
    this.#stream.write(`\r${this.render(progress, (now - this.#started) / 1000)}\x1b[K`);
  };

  done(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#drawn) this.#stream.write('\r\x1b[K');
  }

  /** The line for `progress` after `elapsed` seconds, fitted to the terminal's width. */
  render(progress: Progress, elapsed: number): string {
    const amount = (value: number): string => (progress.unit === 'bytes' ? formatBytes(value) : `${formatCount(Math.round(value))} ${progress.unit}`);
    const rate = elapsed >= MIN_RATE_SECONDS ? progress.done / elapsed : undefined;
    const speed = rate === undefined ? '' : `${amount(rate)}/s`;
    const columns = this.#stream.columns;
    const width = Math.max(40, (columns === undefined || columns <= 0 ? 80 : columns) - 1);
    if (progress.total === undefined || progress.total <= 0) {
      return fit([this.#label, amount(progress.done), speed].filter((part) => part !== '').join('  '), width);
    }
    const share = Math.min(1, progress.done / progress.total);
    const remaining = rate === undefined || rate === 0 ? undefined : (progress.total - progress.done) / rate;
    const eta = remaining === undefined ? 'ETA --:--' : `ETA ${formatDuration(remaining)}`;
    const tail = ` ${(share * 100).toFixed(0).padStart(3)}%  ${[`${amount(progress.done)}/${amount(progress.total)}`, speed, eta].filter((part) => part !== '').join('  ')}`;
    const barWidth = Math.max(10, Math.min(40, width - this.#label.length - tail.length - 3));
    const filled = Math.round(share * barWidth);
    return fit(`${this.#label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`, width);
  }
}

/** A sink that draws nothing: where stderr is not a terminal. */
const NO_PROGRESS: ProgressSink = { update: () => undefined, done: () => undefined };

/** A bar on `stream` when it is a terminal, nothing otherwise. */
export function progressOn(stream: TerminalStream, label: string): ProgressSink {
  return stream.isTTY === true ? new ProgressBar(stream, label) : NO_PROGRESS;
}

function fit(line: string, width: number): string {
  return line.length <= width ? line : line.slice(0, width);
}
