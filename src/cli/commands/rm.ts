import type { Command } from '../Command.js';

export const rm: Command = {
  name: 'rm',
  operands: 'KEY',
  arity: [1, 1],
  summary: 'remove a snapshot',
  description:
    'Removes snapshot KEY; refused (ENOTEMPTY) while another snapshot has it as parent. The blocks only it held\n' +
    'become garbage, freed by `cowstack gc`. Prints KEY.',
  examples: ['cowstack rm web-1 && cowstack gc'],
  options: {},
  access: 'write',
  bulk: false,
  async run({ store, out }, { operands: [key] }) {
    await store.remove(key!);
    await out.line(key);
  },
};
