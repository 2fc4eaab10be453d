import type { Command } from '../Command.js';
import { formatBytes, formatCount } from '../format.js';
import { registryCredentials } from '../registryCredentials.js';

export const push: Command = {
  name: 'push',
  operands: 'KEY REF',
  arity: [2, 2],
  summary: 'push a committed snapshot\'s chain to a registry as an image',
  description:
    'Pushes the chain of committed snapshots ending at KEY to an OCI distribution registry as image REF\n' +
    '(host[:port]/name[:tag]): its layers, a config and a manifest. Blobs the registry already has are not sent\n' +
    'again. With --lazy, layers go up uncompressed with a block index of each, so `pull --lazy` can fetch blocks\n' +
    'when first read. Plain HTTP is used for loopback registries, or anywhere with --insecure. Credentials come from\n' +
    '$COWSTACK_REGISTRY_USERNAME and $COWSTACK_REGISTRY_PASSWORD.',
  examples: ['cowstack push web-image 127.0.0.1:5000/web:v1 --lazy', 'cowstack push web-image registry.lan:5000/web:v1 --insecure --json'],
  options: {
    insecure: { type: 'boolean', description: 'allow plain HTTP to a registry that is not on loopback' },
    lazy: { type: 'boolean', description: 'publish for lazy pulls: uncompressed layers and their block indexes' },
    json: { type: 'boolean', description: 'print the result: { digest, bytesSent, blobsSkipped }' },
  },
  access: 'read',
  bulk: true,
  async run({ store, out, signal, progress }, { operands: [key, ref], options }) {
    const bar = progress(`push ${ref!}`);
    const result = await store
      .push(key!, ref!, { insecure: options.insecure === true, lazy: options.lazy === true, signal, onProgress: bar.update, ...registryCredentials() })
      .finally(() => bar.done());
    if (options.json === true) await out.json(result);
    else await out.line(`${result.digest}: sent ${formatBytes(result.bytesSent)}, ${formatCount(result.blobsSkipped)} blob(s) already there`);
  },
};
