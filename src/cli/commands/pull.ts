import type { Command } from '../Command.js';
import { registryCredentials } from '../registryCredentials.js';

export const pull: Command = {
  name: 'pull',
  operands: 'REF',
  arity: [1, 1],
  summary: 'pull an image from a registry into committed snapshots',
  description:
    'Pulls image REF (host[:port]/name[:tag|@digest]) into committed snapshots keyed by chain ID, as `import`\n' +
    'does for an image on disk; layers the store already has are not fetched, and every blob is checked against\n' +
    'its digest. Prints the top snapshot\'s key. With --lazy, an image pushed with `push --lazy` is mountable once\n' +
    'its block indexes are fetched: each block is fetched by a range request when first read, checked, and kept\n' +
    '(read-only commands such as `cat` serve it without keeping it); other images are pulled in full.\n' +
    'Credentials come from $COWSTACK_REGISTRY_USERNAME and $COWSTACK_REGISTRY_PASSWORD.',
  examples: ['cowstack pull 127.0.0.1:5000/web:v1 --lazy', 'cowstack pull registry.lan:5000/web:v1 --insecure'],
  options: {
    insecure: { type: 'boolean', description: 'allow plain HTTP to a registry that is not on loopback' },
    lazy: { type: 'boolean', description: 'fetch each block when first read (images pushed with --lazy)' },
  },
  access: 'write',
  bulk: true,
  async run({ store, out, signal, progress }, { operands: [ref], options }) {
    const bar = progress(`pull ${ref!}`);
    const info = await store
      .pull(ref!, { insecure: options.insecure === true, lazy: options.lazy === true, signal, onProgress: bar.update, ...registryCredentials() })
      .finally(() => bar.done());
    await out.line(info.key);
  },
};
