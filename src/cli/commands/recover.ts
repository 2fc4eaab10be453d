import type { Command } from '../Command.js';
import { EXIT, UsageError } from '../exitStatus.js';
import { formatBytes, formatCount, formatTable } from '../format.js';
import { sizeOrDamaged } from '../survey.js';

export const recover: Command = {
  name: 'recover',
  operands: '',
  arity: [0, 0],
  summary: 'rebuild a lost or damaged catalog from the trees in the packs',
  description:
    'For a store that refuses to open because its catalog (the file naming every snapshot) is missing or damaged.\n' +
    'Finds every snapshot tree still in the packs and names each as a committed snapshot without parent,\n' +
    '`recovered-<tree id>`, labelled cowstack.recovered.tree=<full id>. Earlier generations of a snapshot come back\n' +
    'too (each commit wrote a tree) until gc collected them: keep what you need and `cowstack rm` the rest.\n' +
    'A damaged catalog is kept as catalog.damaged. Refused (EEXIST) when the catalog is sound. Exits 4 when a\n' +
    'tree could not be read whole (it is listed and left out).',
  examples: ['cowstack recover && cowstack check', 'cowstack recover --json'],
  options: {
    json: { type: 'boolean', description: 'print { catalog, keptAs, recovered: [{ key, tree, size }], skipped: [{ tree, error }], nodesUnreadable }' },
  },
  access: 'recover',
  bulk: false,
  async run({ store, out, recovery }, { options }) {
    if (recovery === undefined) throw new UsageError('recover rebuilds the catalog of a store before it is opened: run `cowstack recover`');
    const recovered = [];
    for (const { key, tree } of recovery.recovered) recovered.push({ key, tree, size: await sizeOrDamaged(store, key) });
    const incomplete = recovery.skipped.length > 0 || recovery.nodesUnreadable > 0;
    if (options.json === true) {
      await out.json({ ...recovery, recovered });
      return incomplete ? EXIT.integrity : EXIT.ok;
    }
    if (recovered.length > 0) {
      const rows = recovered.map((item) => [item.key, item.size === null ? 'damaged' : formatBytes(item.size), item.tree]);
      for (const line of formatTable([{ header: 'KEY' }, { header: 'SIZE', align: 'right' }, { header: 'TREE' }], rows)) await out.line(line);
    }
    for (const { tree, error } of recovery.skipped) await out.line(`skipped tree ${tree}: ${error}`);
    if (recovery.nodesUnreadable > 0) await out.line(`${formatCount(recovery.nodesUnreadable)} tree node record(s) could not be read (see cowstack check)`);
    if (recovery.keptAs !== undefined) await out.line(`the damaged catalog is kept as ${recovery.keptAs}`);
    await out.line(
      `${formatCount(recovered.length)} snapshot(s) recovered, ${formatCount(recovery.skipped.length)} tree(s) skipped ` +
      `(the catalog was ${recovery.catalog}); keep what you need, \`cowstack rm\` the rest`,
    );
    return incomplete ? EXIT.integrity : EXIT.ok;
  },
};
