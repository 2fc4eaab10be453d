import type { Change } from '../../index.js';
import type { Command } from '../Command.js';

const LETTER: Record<Change['kind'], string> = { added: 'A', modified: 'C', deleted: 'D' };

export const diff: Command = {
  name: 'diff',
  operands: 'KEY [BASE]',
  arity: [1, 2],
  summary: 'list the paths a snapshot changed',
  description:
    'Lists what changed from BASE (default: KEY\'s parent) to KEY, ordered by path, as `docker diff` does:\n' +
    'A added, C changed (type, content, size, mode, owner, link target or mtime), D deleted (the topmost path only).',
  examples: ['cowstack diff web-1', 'cowstack diff web-image nginx-image --json'],
  options: {
    json: { type: 'boolean', description: 'print an array of { path, kind } objects' },
  },
  access: 'read',
  bulk: false,
  async run({ store, out, signal }, { operands: [key, base], options }) {
    if (options.json === true) {
      const changes: Change[] = [];
      for await (const change of store.diff(key!, base)) changes.push(change);
      await out.json(changes);
      return;
    }
    for await (const change of store.diff(key!, base)) {
      signal.throwIfAborted();
      if (out.closed) return;
      await out.line(`${LETTER[change.kind]} ${change.path}`);
    }
  },
};
