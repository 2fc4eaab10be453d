import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { exportTreeFrom } from '../../image/treeExport.js';
import type { Args, Command, CommandContext, ProgressSink } from '../Command.js';
import { UsageError } from '../exitStatus.js';
import { ScopedLayer } from '../ScopedLayer.js';
import { surveyFiles } from '../survey.js';

type ExportKind = 'layer' | 'image' | 'tree';

const ARCHIVE = /\.(?:tar|tar\.gz|tgz)$/;
const GZIP = /\.(?:gz|tgz)$/;

/** `--layer`, `--image` or `--tree`; without one, `-` and `*.tar(.gz)` mean a layer, anything else a tree. */
function exportKind(args: Args, dest: string): ExportKind {
  const given = (['layer', 'image', 'tree'] as const).filter((kind) => args.options[kind] === true);
  if (given.length > 1) throw new UsageError(`choose one of --${given.join(', --')}`);
  const kind = given[0] ?? (dest === '-' || ARCHIVE.test(dest) ? 'layer' : 'tree');
  if (args.options.base !== undefined && kind !== 'layer') throw new UsageError('--base applies to --layer only');
  if (args.options.tag !== undefined && kind !== 'image') throw new UsageError('--tag applies to --image only');
  if (dest === '-' && kind !== 'layer') throw new UsageError('only a layer can be written to standard output (-)');
  return kind;
}

export const exportCommand: Command = {
  name: 'export',
  operands: 'KEY DEST',
  arity: [2, 2],
  summary: 'write a snapshot out as a layer tar, an image or a directory',
  description:
    'Writes snapshot KEY out as:\n' +
    '  --layer   an OCI layer tar of diff(KEY, BASE) (BASE: --base, default KEY\'s parent); gzip\'d when DEST ends in\n' +
    '            .gz or .tgz; DEST - is standard output. Written to a temporary name and renamed: never half a file.\n' +
    '  --image   an OCI image layout directory of KEY\'s chain of committed snapshots, one layer each, named --tag\n' +
    '            (default latest) in its index.json; added to DEST when DEST is a layout already. Prints the\n' +
    '            manifest\'s digest.\n' +
    '  --tree    the snapshot\'s files into directory DEST (missing or empty)\n' +
    'Without one of these, DEST - or *.tar, *.tar.gz, *.tgz means --layer, anything else --tree.',
  examples: ['cowstack export web-1 web-1.tar.gz --base nginx-image', 'cowstack export base ./rootfs', 'cowstack export web-image ./oci --image --tag web:1.0'],
  options: {
    layer: { type: 'boolean', description: 'an OCI layer tar(.gz)' },
    image: { type: 'boolean', description: 'an OCI image layout directory' },
    tree: { type: 'boolean', description: 'a directory tree' },
    base: { type: 'string', value: 'B', description: 'the snapshot the layer applies on (default: KEY\'s parent)' },
    tag: { type: 'string', value: 'T', description: 'the image\'s name in the layout\'s index.json (default: latest)' },
  },
  access: 'read',
  bulk: true,
  async run(context, args) {
    const [key, dest] = args.operands as [string, string];
    const kind = exportKind(args, dest);
    const bar = context.progress(`export ${key}`);
    try {
      if (kind === 'layer') await writeLayer(context, key, dest, args, bar.update);
      else if (kind === 'tree') await writeTree(context, key, resolve(dest), bar.update);
      else await writeImage(context, key, resolve(dest), args, bar.update);
    } finally {
      bar.done();
    }
  },
};

async function writeLayer(context: CommandContext, key: string, dest: string, args: Args, onProgress: ProgressSink['update']): Promise<void> {
  const { store, signal, out } = context;
  const base = typeof args.options.base === 'string' ? args.options.base : undefined;
  const stream: Readable = store.exportLayer(key, { ...(base === undefined ? {} : { base }), gzip: GZIP.test(dest), signal, onProgress });
  if (dest === '-') {
    try {
      for await (const chunk of stream) {
        if (out.closed) return;
        await out.write(chunk as Buffer);
      }
    } finally {
      stream.destroy();
    }
    return;
  }
  const target = resolve(dest);
  const partial = join(dirname(target), `.${basename(target)}.${randomUUID()}.partial`);
  try {
    await pipeline(stream, createWriteStream(partial, { flags: 'wx' }));
    await rename(partial, target);
  } catch (error) {
    await unlink(partial).catch(() => undefined);
    throw error;
  }
}

async function writeTree(context: CommandContext, key: string, dir: string, onProgress: ProgressSink['update']): Promise<void> {
  const { store, signal } = context;
  const total = (await surveyFiles(store, key, null, signal)).bytes;
  let done = 0;
  onProgress({ done, total, unit: 'bytes' });
  const layer = new ScopedLayer(await store.mount(key), '/', {
    signal,
    onRead: (bytes) => {
      done += bytes;
      onProgress({ done, total, unit: 'bytes' });
    },
  });
  await exportTreeFrom(layer, dir);
}

async function writeImage(context: CommandContext, key: string, dir: string, args: Args, onProgress: ProgressSink['update']): Promise<void> {
  const tag = typeof args.options.tag === 'string' ? args.options.tag : undefined;
  const written = await context.store.exportImage(key, dir, { ...(tag === undefined ? {} : { tag }), signal: context.signal, onProgress });
  await context.out.line(written.manifest.digest);
}
