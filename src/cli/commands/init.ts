import type { Command } from '../Command.js';
import { UsageError } from '../exitStatus.js';
import { formatBytes, formatCount } from '../format.js';

const SIZE = /^(\d+)\s*(k|kb|kib|m|mb|mib)?$/i;

/** `64K`, `65536`, `1M` as bytes (binary units); anything else is a usage error. */
function parseBlockSize(text: string): number {
  const match = SIZE.exec(text.trim());
  if (match === null) throw new UsageError(`--block-size takes a number of bytes (4096, 64K, 1M), not '${text}'`);
  const unit = match[2]?.[0]?.toLowerCase();
  return Number(match[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1048576 : 1);
}

export const init: Command = {
  name: 'init',
  operands: '',
  arity: [0, 0],
  summary: 'create the store, or show an existing one',
  description:
    'Creates the store directory (every other command also creates it on first use, with the default block size).\n' +
    'The block size is fixed when the store is created: asking an existing store for another one fails with EINVAL.',
  examples: ['cowstack --store /var/lib/cowstack init --block-size 16K'],
  options: {
    'block-size': { type: 'string', value: 'N', description: 'bytes per block: a power of two from 4096 (4K) to 1048576 (1M); default 64K' },
  },
  access: 'write',
  bulk: false,
  openOptions(args) {
    const text = args.options['block-size'];
    return typeof text === 'string' ? { blockSize: parseBlockSize(text) } : {};
  },
  async run({ store, out }) {
    const stats = await store.stats();
    await out.line(
      `${store.dir}: block size ${formatBytes(stats.blockSize)}, ${formatCount(stats.snapshots)} snapshot(s), ` +
      `${formatCount(stats.blocks)} block(s), ${formatBytes(stats.storedBytes)} stored`,
    );
  },
};
