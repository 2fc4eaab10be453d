import type { Command, OptionSpec } from './Command.js';
import { COMMANDS } from './commands/index.js';

/** Options every command takes, before or after its name. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  store: { type: 'string', value: 'DIR', description: 'the store (default: $COWSTACK_STORE, else ./.cowstack; created on first use)' },
  debug: { type: 'boolean', description: 'print an error\'s stack trace after its one line' },
  help: { type: 'boolean', short: 'h', description: 'print help and exit' },
};

const EXIT_STATUS = [
  'Exit status:',
  '  0    success',
  '  1    any other error',
  '  2    usage error (unknown command or option, wrong operands)',
  '  3    not found (ENOENT): no such snapshot, path or source',
  '  4    integrity (EINTEGRITY): stored data does not match its hash; also `check` finding problems',
  '  5    locked (ELOCKED): another process is writing to the store',
  '  130  interrupted by Ctrl-C (SIGINT; 143 for SIGTERM): the operation is abandoned, the store closed as it was',
  'Errors print one line to stderr, `cowstack: CODE: message`; --debug adds the stack trace.',
];

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const names = Object.entries(options).map(([name, spec]) => {
    const long = `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    return [spec.short === undefined ? `    ${long}` : `-${spec.short}, ${long}`, spec.description] as const;
  });
  const width = Math.max(...names.map(([name]) => name.length));
  return names.map(([name, description]) => `  ${name.padEnd(width)}  ${description}`);
}

export function synopsis(command: Command): string {
  const options = Object.entries(command.options).map(([name, spec]) =>
    `[${spec.short === undefined ? '' : `-${spec.short}|`}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}]`);
  return ['cowstack', command.name, command.operands, ...options].filter((part) => part !== '').join(' ');
}

export function generalHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    `cowstack ${version}: block-level copy-on-write snapshots`,
    '',
    'Usage: cowstack [--store DIR] COMMAND [ARGS...]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Options:',
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', short: 'V', description: 'print the version and exit' } }),
    '',
    ...EXIT_STATUS,
    '',
    'Run `cowstack COMMAND --help` for a command\'s options and examples.',
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  const own = Object.keys(command.options).length > 0 ? ['Options:', ...optionLines(command.options), ''] : [];
  return [
    `Usage: ${synopsis(command)}`,
    '',
    command.description,
    '',
    ...own,
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    `Example${command.examples.length > 1 ? 's' : ''}:`,
    ...command.examples.map((example) => `  ${example}`),
    '',
    'Exit status: 0 ok, 1 error, 2 usage, 3 ENOENT, 4 EINTEGRITY, 5 ELOCKED, 130 Ctrl-C (see cowstack --help).',
    '',
  ].join('\n');
}
