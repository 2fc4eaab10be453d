import type { Command } from '../Command.js';
import { EXIT } from '../exitStatus.js';
import { formatCount } from '../format.js';

export const check: Command = {
  name: 'check',
  operands: '',
  arity: [0, 0],
  summary: 're-hash every stored block and check every snapshot',
  description:
    'Reads and re-hashes every stored block, and checks that every block each snapshot references is stored and\n' +
    'sound. Prints one line per problem (CODE KEY PATH message). Exits 4 when it finds any.',
  examples: ['cowstack check || echo "store damaged"', 'cowstack check --json'],
  options: {
    json: { type: 'boolean', description: 'print the CheckReport: { ok, blocksChecked, blocksRemote, problems }' },
  },
  access: 'read',
  bulk: true,
  async run({ store, out, signal, progress }, { options }) {
    const bar = progress('check');
    const report = await store.check({ signal, onProgress: bar.update }).finally(() => bar.done());
    if (options.json === true) {
      await out.json(report);
    } else {
      for (const problem of report.problems) {
        await out.line([problem.code, problem.key ?? '-', problem.path ?? '-', problem.message].join(' '));
      }
      await out.line(`${report.ok ? 'ok' : `${formatCount(report.problems.length)} problem(s)`}: ${formatCount(report.blocksChecked)} block(s) checked${report.blocksRemote > 0 ? `, ${formatCount(report.blocksRemote)} not fetched yet (lazy pull)` : ''}`);
    }
    return report.ok ? EXIT.ok : EXIT.integrity;
  },
};
