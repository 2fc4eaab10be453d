import type { SnapshotInfo } from '../../index.js';
import type { Command } from '../Command.js';
import { formatAgo, formatBytes, formatTable } from '../format.js';
import { sizeOrDamaged } from '../survey.js';

/** What `ls --json` prints per snapshot: a `SnapshotInfo` with `size` (null when damaged) added. */
export interface ListedSnapshot extends SnapshotInfo {
  size: number | null;
}

export const ls: Command = {
  name: 'ls',
  operands: '',
  arity: [0, 0],
  summary: 'list snapshots',
  description:
    'Lists every snapshot: key, kind (committed, active, view), parent, size and age. SIZE is the bytes of data\n' +
    'blocks the snapshot references that its parent does not (`usage(key).size`); `damaged` when its stored tree\n' +
    'cannot be read (size null in JSON).',
  examples: ['cowstack ls', 'cowstack ls --json | jq -r \'.[] | select(.kind == "active") | .key\''],
  options: {
    json: { type: 'boolean', description: 'print an array of SnapshotInfo objects with size added' },
  },
  access: 'read',
  bulk: false,
  async run({ store, out }, { options }) {
    const listed: ListedSnapshot[] = [];
    for await (const info of store.walk()) listed.push({ ...info, size: await sizeOrDamaged(store, info.key) });
    if (options.json === true) {
      await out.json(listed);
      return;
    }
    const now = Date.now();
    const rows = listed.map((item) => [
      item.key, item.kind, item.parent ?? '', item.size === null ? 'damaged' : formatBytes(item.size), formatAgo(item.created, now),
    ]);
    const columns = [{ header: 'KEY' }, { header: 'KIND' }, { header: 'PARENT' }, { header: 'SIZE', align: 'right' as const }, { header: 'CREATED' }];
    for (const line of formatTable(columns, rows)) await out.line(line);
  },
};
