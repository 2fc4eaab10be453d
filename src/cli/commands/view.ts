import type { Command } from '../Command.js';

export const view: Command = {
  name: 'view',
  operands: 'KEY PARENT',
  arity: [2, 2],
  summary: 'make a read-only snapshot of a committed parent',
  description: 'Makes the view KEY: read-only, holding committed PARENT\'s contents; a view is never a parent. Prints KEY.',
  examples: ['cowstack view nginx-ro nginx-image'],
  options: {},
  access: 'write',
  bulk: false,
  async run({ store, out }, { operands: [key, parent] }) {
    await store.view(key!, parent);
    await out.line(key);
  },
};
