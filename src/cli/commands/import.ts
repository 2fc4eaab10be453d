import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { checkFree } from '../../image/layerImport.js';
import type { Command, CommandContext, ProgressSink } from '../Command.js';
import { UsageError } from '../exitStatus.js';
import { formatBytes, formatCount } from '../format.js';
import { sourceKind, type SourceKind } from '../sourceKind.js';

const WHAT: Record<SourceKind, string> = {
  'directory': 'directory',
  'layer': 'layer',
  'image-layout': 'OCI image layout',
  'image-archive': 'image archive',
};

export const importCommand: Command = {
  name: 'import',
  operands: 'SOURCE KEY',
  arity: [2, 2],
  summary: 'commit a directory, a layer tar or an image as snapshots',
  description:
    'SOURCE is told apart by what it is:\n' +
    '  a directory         committed as snapshot KEY on PARENT (modes, owners, symbolic and hard links, mtimes kept)\n' +
    '  a layer tar(.gz)    applied on PARENT as an OCI layer (whiteouts honoured) and committed as KEY\n' +
    '  an OCI image layout, or a `docker save` tar(.gz)\n' +
    '                      every layer becomes a snapshot keyed by its chain ID (sha256:…), reused when the store has\n' +
    '                      it; KEY then names the top: a committed snapshot on it with an empty diff\n' +
    'A directory or layer is committed whole or not at all; Ctrl-C stops the import and leaves nothing of it\n' +
    'committed but, for an image, the layers completed before (each whole and correct: a retry reuses them).\n' +
    'Prints what was imported and how many bytes the store took for it.',
  examples: ['cowstack import ./rootfs base', 'cowstack import layer.tar.gz app --parent base', 'cowstack import nginx.tar nginx --tag nginx:1.27'],
  options: {
    parent: { type: 'string', value: 'P', description: 'the committed snapshot a directory or layer goes on' },
    tag: { type: 'string', value: 'T', description: 'the image to take where SOURCE holds several (a ref name or RepoTag, or its :tag)' },
  },
  access: 'write',
  bulk: true,
  async run(context, { operands: [source, key], options }) {
    const { store, out } = context;
    const path = resolve(source!);
    const parent = typeof options.parent === 'string' ? options.parent : undefined;
    const tag = typeof options.tag === 'string' ? options.tag : undefined;
    const kind = await sourceKind(path);
    const image = kind === 'image-layout' || kind === 'image-archive';
    if (image && parent !== undefined) throw new UsageError('--parent applies to a directory or a layer: an image brings its own chain');
    if (!image && tag !== undefined) throw new UsageError('--tag applies to an image');
    await checkFree(store, key!);
    const before = await store.stats();
    const bar = context.progress(`import ${key}`);
    let summary: string;
    try {
      summary = image ? await importAnImage(context, path, key!, tag, bar.update) : await importTree(context, kind, path, key!, parent, bar.update);
    } finally {
      bar.done();
    }
    const after = await store.stats();
    await out.line(`${key}: ${WHAT[kind]} imported, ${summary}, ${formatBytes(after.storedBytes - before.storedBytes)} newly stored`);
  },
};

/** A directory or a layer, committed as `key`; describes what it holds. */
async function importTree(
  context: CommandContext, kind: SourceKind, path: string, key: string, parent: string | undefined, onProgress: ProgressSink['update'],
): Promise<string> {
  const { store, signal } = context;
  if (kind === 'directory') await store.importTree(key, parent, path, { signal, onProgress });
  else await store.importLayer(key, parent, path, { signal, onProgress });
  const { inodes } = await store.usage(key);
  return `${formatCount(inodes)} entr${inodes === 1 ? 'y' : 'ies'}`;
}

/**
 * An image: its layers become snapshots keyed by chain ID, and `key` names the top as a
 * committed snapshot on it with an empty diff (made as `docker commit` of an untouched container
 * makes one). Describes the chain.
 */
async function importAnImage(context: CommandContext, path: string, key: string, tag: string | undefined, onProgress: ProgressSink['update']): Promise<string> {
  const { store, signal } = context;
  const top = await store.importImage(path, { ...(tag === undefined ? {} : { tag }), signal, onProgress });
  signal.throwIfAborted();
  const work = `${key}@name-${randomUUID()}`;
  await store.prepare(work, top.key);
  try {
    await store.commit(key, work);
  } catch (error) {
    await store.remove(work).catch(() => undefined);
    throw error;
  }
  let layers = 0;
  for (let at: string | undefined = top.key; at !== undefined; at = (await store.stat(at)).parent) layers++;
  return `${layers} layer snapshot(s), the top ${top.key}`;
}
