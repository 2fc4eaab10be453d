/** One request waiting in a `TurnBatch`: its key, and how to answer it. */
export interface Waiting<K, V> {
  readonly key: K;
  resolve(value: V): void;
  reject(error: unknown): void;
}

/**
 * Requests made in one turn of the event loop, handed over together: the first `request` of a
 * turn schedules `handle` (a microtask), which gets every request made before it runs and must
 * answer each. How a read's blocks, which it asks for all at once, reach the packs or a block
 * source in one go, so neighbours can be read with one `pread` or one range request.
 */
export class TurnBatch<K, V> {
  readonly #handle: (waiting: Waiting<K, V>[]) => void;
  #waiting: Waiting<K, V>[] = [];

  constructor(handle: (waiting: Waiting<K, V>[]) => void) {
    this.#handle = handle;
  }

  /** Resolves to what `handle` answers for `key`. */
  request(key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.#waiting.push({ key, resolve, reject });
      if (this.#waiting.length === 1) queueMicrotask(() => this.#handle(this.#waiting.splice(0)));
    });
  }
}
