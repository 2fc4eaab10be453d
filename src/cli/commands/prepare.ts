import type { Command } from '../Command.js';

export const prepare: Command = {
  name: 'prepare',
  operands: 'KEY [PARENT]',
  arity: [1, 2],
  summary: 'make an active (writable) snapshot on a committed parent',
  description:
    'Makes the active snapshot KEY: a container\'s write layer, holding committed PARENT\'s contents (empty without\n' +
    'PARENT). Writing into it copies only the blocks a write touches. Prints KEY.',
  examples: ['cowstack prepare web-1 nginx-image'],
  options: {},
  access: 'write',
  bulk: false,
  async run({ store, out }, { operands: [key, parent] }) {
    await store.prepare(key!, parent);
    await out.line(key);
  },
};
