/**
 * Runs tasks one at a time in the order they were queued: what makes "calls on one layer take
 * effect in the order they were made" true although every call is asynchronous. A failed task
 * rejects its own promise and does not stop the queue.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  async drain(): Promise<void> {
    await this.run(() => undefined);
  }
}
