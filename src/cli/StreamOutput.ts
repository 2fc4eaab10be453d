import type { Writable } from 'node:stream';
import type { Output } from './Command.js';

/**
 * `Output` on a writable stream (standard output). A write waits for `drain` when the stream is
 * full, so a long listing into a slow pipe stays within memory. When the reader goes away
 * (`cowstack diff … | head`), the stream's `EPIPE` (or any error of it) closes the output: later
 * writes do nothing and `closed` tells a command that streams (`cat`) to stop reading.
 */
export class StreamOutput implements Output {
  readonly #stream: Writable;
  #closed = false;

  constructor(stream: Writable) {
    this.#stream = stream;
    stream.on('error', () => {
      this.#closed = true;
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.#stream.write(data)) {
        resolve();
        return;
      }
      const settle = (): void => {
        this.#stream.off('drain', settle).off('error', settle);
        resolve();
      };
      this.#stream.on('drain', settle).on('error', settle);
    });
  }

  line(text = ''): Promise<void> {
    return this.write(`${text}\n`);
  }

  json(value: unknown): Promise<void> {
    return this.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}
