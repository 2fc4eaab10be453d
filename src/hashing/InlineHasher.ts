import { createHash } from 'node:crypto';
import { parseBlockId, type BlockId } from '../core/BlockId.js';
import { fsError } from '../core/errors.js';
import type { Hasher } from './Hasher.js';

/** Hashes on the calling thread: `workers: 0`. The reference every other hasher must agree with. */
export class InlineHasher implements Hasher {
  readonly threads = 0;
  #closed = false;

  async hash(blocks: readonly Uint8Array[]): Promise<BlockId[]> {
    if (this.#closed) throw fsError('EBADF', { syscall: 'hash', detail: 'hasher is closed' });
    return blocks.map(sha256Id);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

/** The SHA-256 id of one block, on this thread. */
export function sha256Id(bytes: Uint8Array): BlockId {
  return parseBlockId(createHash('sha256').update(bytes).digest('hex'))!;
}
