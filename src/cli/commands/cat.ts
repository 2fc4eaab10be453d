import type { Command } from '../Command.js';

export const cat: Command = {
  name: 'cat',
  operands: 'KEY PATH',
  arity: [2, 2],
  summary: 'print a file of a snapshot',
  description: 'Writes the file PATH of snapshot KEY (symbolic links followed inside the snapshot) to standard output.',
  examples: ['cowstack cat web-1 /etc/nginx/nginx.conf'],
  options: {},
  access: 'read',
  bulk: false,
  async run({ store, out, signal }, { operands: [key, path] }) {
    const layer = await store.mount(key!);
    const stream = layer.createReadStream(path!);
    try {
      for await (const chunk of stream) {
        signal.throwIfAborted();
        if (out.closed) return;
        await out.write(chunk as Buffer);
      }
    } finally {
      stream.destroy();
    }
  },
};
