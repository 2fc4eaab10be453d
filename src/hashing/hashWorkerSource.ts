/**
 * The protocol between `WorkerPoolHasher` and its workers, and the code a worker runs.
 *
 * One message per batch. The pool has copied the batch's blocks, back to back, into a shared slab
 * and posts a `HashRequest` naming it; posting a `SharedArrayBuffer` shares it, so no block byte is
 * cloned between threads. The worker hashes views of the slab, writes each 32-byte digest into the
 * slab's digest table, and answers with the request's `id` (a number) once every digest is written.
 * Message passing orders those writes before the pool's reads. A worker keeps no state between
 * messages, so any live worker can run (or re-run) any batch.
 *
 * Slab layout, in bytes from 0 (offsets in the request, so one-off slabs may size it differently):
 * - `0`: the length of each block, `count` float64s (a float64 holds any block length exactly);
 * - `digestsAt`: `count` SHA-256 digests of 32 bytes, written by the worker;
 * - `dataAt`: the blocks' bytes, block `i` right after block `i - 1`.
 */
export interface HashRequest {
  /** Names the batch in the answer. */
  readonly id: number;
  readonly slab: SharedArrayBuffer;
  /** How many blocks the batch holds. */
  readonly count: number;
  readonly digestsAt: number;
  readonly dataAt: number;
}

/**
 * The worker's code: CommonJS, run with `new Worker(HASH_WORKER_SOURCE, { eval: true })`, so the
 * same string works under vitest (TypeScript sources) and from `dist/` with no file path to
 * resolve. `crypto.hash` (node >= 20.12) is a one-shot hash, about 1.5 times faster than
 * `createHash` on 4 KiB blocks; older nodes fall back to `createHash`.
 */
export const HASH_WORKER_SOURCE = `'use strict';
const crypto = require('node:crypto');
const { parentPort } = require('node:worker_threads');

const sha256 = typeof crypto.hash === 'function'
  ? (bytes) => crypto.hash('sha256', bytes, 'buffer')
  : (bytes) => crypto.createHash('sha256').update(bytes).digest();

parentPort.on('message', ({ id, slab, count, digestsAt, dataAt }) => {
  const lengths = new Float64Array(slab, 0, count);
  const digests = new Uint8Array(slab, digestsAt, count * 32);
  let at = dataAt;
  for (let i = 0; i < count; i++) {
    digests.set(sha256(new Uint8Array(slab, at, lengths[i])), i * 32);
    at += lengths[i];
  }
  parentPort.postMessage(id);
});
`;
