import type { Command } from '../Command.js';
import { formatBytes, formatCount } from '../format.js';

export const gc: Command = {
  name: 'gc',
  operands: '',
  arity: [0, 0],
  summary: 'delete the blocks no snapshot references',
  description:
    'Deletes every stored block that no snapshot references (left by `rm`, by overwrites, by interrupted imports)\n' +
    'and gives its space back to the file system.',
  examples: ['cowstack gc', 'cowstack gc --json'],
  options: {
    json: { type: 'boolean', description: 'print the GcReport: { blocksRemoved, bytesFreed }' },
  },
  access: 'write',
  bulk: false,
  async run({ store, out, signal, progress }, { options }) {
    const bar = progress('gc');
    const report = await store.gc({ signal, onProgress: bar.update }).finally(() => bar.done());
    if (options.json === true) await out.json(report);
    else await out.line(`removed ${formatCount(report.blocksRemoved)} block(s), freed ${formatBytes(report.bytesFreed)} (${formatCount(report.bytesFreed)} bytes)`);
  },
};
