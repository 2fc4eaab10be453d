/**
 * Keeps the garbage collector and writers apart: any number of writes hold the gate shared; the
 * collector holds it alone. So a block a write has stored, but not yet linked into its tree, is
 * never swept: the collector marks only when no write is between those two steps.
 *
 * Writers that arrive while the collector waits or runs queue behind it, so it cannot starve.
 */
export class WriteGate {
  #writers = 0;
  #exclusive: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  /** Runs `task` as a writer. */
  async shared<T>(task: () => Promise<T>): Promise<T> {
    while (this.#exclusive !== undefined) await this.#exclusive;
    this.#writers++;
    try {
      return await task();
    } finally {
      this.#writers--;
      if (this.#writers === 0) this.#drained?.();
    }
  }

  /** Runs `task` once no writer holds the gate, with writers kept out until it settles. */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    while (this.#exclusive !== undefined) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise<void>((resolve) => (release = resolve));
    try {
      if (this.#writers > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      this.#drained = undefined;
      return await task();
    } finally {
      this.#exclusive = undefined;
      release();
    }
  }
}
