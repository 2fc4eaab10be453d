import * as crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { distinctData } from './data.js';

/**
 * The hardware limits every throughput is held against: SHA-256 of node:crypto at a block size, on
 * one thread and on every core at once, and memcpy (`Buffer.copy`). Each is a `Case`-shaped call
 * so a scenario can interleave it with its own cases and compare figures measured side by side.
 */

/** `crypto.hash` (node ≥ 20.12) hashes in one call; `createHash` otherwise, as the engine does. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/** SHA-256 of every `blockSize` block of `data` on this thread. */
export function hashBlocks(data: Uint8Array, blockSize: number): number {
  let acc = 0;
  for (let at = 0; at < data.byteLength; at += blockSize) {
    const block = data.subarray(at, at + blockSize);
    const digest = oneShot === undefined ? crypto.createHash('sha256').update(block).digest() : oneShot('sha256', block, 'buffer');
    acc ^= digest[0]!;
  }
  return acc;
}

/** The worker of `ParallelHash`: hashes its own buffer in blocks on every message, answers with the byte count. */
const WORKER_SOURCE = `'use strict';
const crypto = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const data = Buffer.alloc(workerData.bytes);
function fill(words, x) {
  for (let i = 0; i < words.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; words[i] = x; }
  return x;
}
const words = new Int32Array(data.buffer, data.byteOffset, data.byteLength >> 2);
for (let at = 0, x = workerData.seed | 1; at < words.length; at += 65536) x = fill(words.subarray(at, at + 65536), x);
const sha256 = typeof crypto.hash === 'function'
  ? (b) => crypto.hash('sha256', b, 'buffer')
  : (b) => crypto.createHash('sha256').update(b).digest();
parentPort.on('message', ({ blockSize, passes }) => {
  let acc = 0;
  for (let pass = 0; pass < passes; pass++) {
    for (let at = 0; at < data.byteLength; at += blockSize) acc ^= sha256(data.subarray(at, at + blockSize))[0];
  }
  parentPort.postMessage(acc === 256 ? -1 : passes * data.byteLength);
});
parentPort.postMessage(0);
`;

/**
 * SHA-256 on `threads` worker threads at once, each over its own buffer: the all-core limit.
 * `run(blockSize, passes)` resolves when every thread has hashed its buffer `passes` times.
 */
export class ParallelHash {
  readonly threads: number;
  readonly bytesPerThread: number;
  readonly #workers: Worker[];

  private constructor(workers: Worker[], bytesPerThread: number) {
    this.#workers = workers;
    this.threads = workers.length;
    this.bytesPerThread = bytesPerThread;
  }

  static async start(threads: number, bytesPerThread: number, seed: number): Promise<ParallelHash> {
    const workers = Array.from({ length: threads }, (_, i) => new Worker(WORKER_SOURCE, { eval: true, workerData: { bytes: bytesPerThread, seed: seed + i } }));
    await Promise.all(workers.map((worker) => new Promise<void>((resolve, reject) => {
      worker.once('message', () => {
        worker.removeAllListeners('error');
        resolve();
      });
      worker.once('error', reject);
    })));
    return new ParallelHash(workers, bytesPerThread);
  }

  /** Bytes one `run` hashes over all threads. */
  bytes(passes = 1): number {
    return passes * this.threads * this.bytesPerThread;
  }

  run(blockSize: number, passes = 1): Promise<void> {
    return Promise.all(this.#workers.map((worker) => new Promise<void>((resolve, reject) => {
      const onMessage = (): void => {
        worker.off('error', onError);
        resolve();
      };
      const onError = (error: unknown): void => {
        worker.off('message', onMessage);
        reject(error);
      };
      worker.once('message', onMessage);
      worker.once('error', onError);
      worker.postMessage({ blockSize, passes });
    }))).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((worker) => worker.terminate()));
  }
}

/** Two pre-faulted buffers of `bytes`, and a copy from one to the other: the memcpy limit. */
export class Memcpy {
  readonly bytes: number;
  readonly #from: Buffer;
  readonly #to: Buffer;

  constructor(bytes: number, seed: number) {
    this.bytes = bytes;
    this.#from = Buffer.from(distinctData(bytes, seed));
    this.#to = Buffer.alloc(bytes, 1);
  }

  run(): number {
    return this.#from.copy(this.#to);
  }

  /** The copy into a buffer allocated for it, as a `readFile` must: the new pages fault in. */
  runIntoFresh(): number {
    return this.#from.copy(Buffer.alloc(this.bytes));
  }
}
