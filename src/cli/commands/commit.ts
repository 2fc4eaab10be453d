import type { Command } from '../Command.js';

export const commit: Command = {
  name: 'commit',
  operands: 'NAME KEY',
  arity: [2, 2],
  summary: 'commit an active snapshot as an immutable one',
  description:
    'Makes the committed snapshot NAME from the active snapshot KEY, which then ceases to exist. With --keep, KEY\n' +
    'stays active on NAME with an empty diff, like `docker commit` of a running container. Prints NAME.',
  examples: ['cowstack commit web-image web-1', 'cowstack commit web-checkpoint-1 web-1 --keep'],
  options: {
    keep: { type: 'boolean', description: 'keep KEY active, now on NAME' },
  },
  access: 'write',
  bulk: false,
  async run({ store, out }, { operands: [name, key], options }) {
    await store.commit(name!, key!, { keep: options.keep === true });
    await out.line(name);
  },
};
