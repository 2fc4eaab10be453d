import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openStore, type Store } from '../index.js';
import { recoverDiskStore, type CatalogRecovery } from '../store/disk/recoverCatalog.js';
import type { Args, Command, CommandContext, OptionSpec } from './Command.js';
import { COMMANDS } from './commands/index.js';
import { EXIT, UsageError, errorLine, exitStatusOf } from './exitStatus.js';
import { GLOBAL_OPTIONS, commandHelp, generalHelp } from './help.js';
import { progressOn, type TerminalStream } from './ProgressBar.js';
import { registryCredentials } from './registryCredentials.js';
import { StreamOutput } from './StreamOutput.js';

/** What the command line runs in: `main.ts` passes the process's; tests may pass their own. */
export interface CliEnvironment {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: Writable;
  readonly stderr: TerminalStream;
  /** Aborted by SIGINT or SIGTERM, with an `Interrupted` reason. */
  readonly signal: AbortSignal;
}

/** The store directory: `--store`, else `$COWSTACK_STORE`, else `./.cowstack`. */
export function storeDirectory(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  const fromEnv = env.COWSTACK_STORE;
  return resolve(flag ?? (fromEnv === undefined || fromEnv === '' ? '.cowstack' : fromEnv));
}

/** The version in the package.json above this module (the source tree's or the installed package's). */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const manifest = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'cowstack') return manifest.version ?? 'unknown';
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

/** The words before the command: global options only. */
interface CommandLine {
  readonly store: string | undefined;
  readonly debug: boolean;
  readonly help: boolean;
  readonly version: boolean;
  readonly command: string | undefined;
  readonly rest: readonly string[];
}

function parseCommandLine(argv: readonly string[]): CommandLine {
  let store: string | undefined;
  let debug = false;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--store') {
      store = argv[++i];
      if (store === undefined) throw new UsageError('--store needs a directory');
    } else if (token.startsWith('--store=')) {
      store = token.slice('--store='.length);
    } else if (token === '--debug') {
      debug = true;
    } else if (token === '--help' || token === '-h') {
      help = true;
    } else if (token === '--version' || token === '-V') {
      version = true;
    } else if (token.startsWith('-')) {
      throw new UsageError(`unknown option '${token}' (see 'cowstack --help')`);
    } else {
      return { store, debug, help, version, command: token, rest: argv.slice(i + 1) };
    }
  }
  return { store, debug, help, version, command: undefined, rest: [] };
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command !== undefined) return command;
  throw new UsageError(`unknown command '${name}' (see 'cowstack --help')`);
}

/** A command's arguments and the global options given after its name. */
interface ParsedArgs extends Args {
  readonly store: string | undefined;
  readonly debug: boolean;
  readonly help: boolean;
}

/** Parses `argv` (the words after the command's name) with `node:util`'s `parseArgs`, strictly. */
function parseCommandArgs(command: Command, argv: readonly string[]): ParsedArgs {
  const specs: Record<string, OptionSpec> = { ...GLOBAL_OPTIONS, ...command.options };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short }]),
  );
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    const message = error instanceof Error ? error.message.split(/\.\s/)[0]! : String(error);
    throw new UsageError(`${message.charAt(0).toLowerCase()}${message.slice(1)} (see 'cowstack ${command.name} --help')`);
  }
  const { store, debug, help, ...own } = parsed.values;
  const result = {
    operands: parsed.positionals, options: own,
    store: typeof store === 'string' ? store : undefined, debug: debug === true, help: help === true,
  };
  if (result.help) return result;
  const [min, max] = command.arity;
  const names = command.operands.replace(/[[\]]/g, '').split(' ').filter((name) => name !== '');
  if (result.operands.length < min) {
    throw new UsageError(`${command.name}: missing ${names.slice(result.operands.length, min).join(' ')} (see 'cowstack ${command.name} --help')`);
  }
  if (result.operands.length > max) {
    throw new UsageError(`${command.name}: unexpected operand '${result.operands[max]}' (see 'cowstack ${command.name} --help')`);
  }
  return result;
}

/**
 * Parses and runs one command on a context that already has its store: what the demo uses to
 * print with the command line's own output. Resolves to the command's exit status.
 */
export async function invoke(context: CommandContext, argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = findCommand(name ?? '');
  return (await command.run(context, parseCommandArgs(command, rest))) ?? EXIT.ok;
}

/**
 * Opens the store as `command` needs it; `read` opens an existing store without the writer lock
 * (blocks a lazily pulled snapshot fetches are then served but not kept); `recover` rebuilds the
 * catalog first (the lock is released between the two: what the recovery wrote is durable, so a
 * writer that takes the store meanwhile finds it recovered). Registry credentials from the
 * environment reach the sources of lazily pulled snapshots.
 */
async function openFor(command: Command, args: Args, dir: string): Promise<{ store: Store; recovery?: CatalogRecovery }> {
  const access = typeof command.access === 'function' ? command.access(args) : command.access;
  const recovery = access === 'recover' ? await recoverDiskStore({ dir }) : undefined;
  const options = { dir, ...(command.bulk ? {} : { workers: 0 }), ...command.openOptions?.(args) };
  const exists = existsSync(dir) && readdirSync(dir).length > 0;
  const auth = registryCredentials().auth;
  const store = await openStore({ ...options, readOnly: access === 'read' && exists, ...(auth === undefined ? {} : { registryAuth: auth }) });
  return { store, recovery };
}

/**
 * Runs `cowstack ARGV…` and resolves to its exit status; never rejects. Output goes to
 * `stdout`, errors to `stderr` as one line each (`cowstack: CODE: message`, the stack after it
 * with `--debug`). The store is always closed before it resolves, also when the command failed or
 * the signal aborted it; an aborted run resolves to the abort reason's status (130 for SIGINT).
 */
export async function runCli(environment: CliEnvironment): Promise<number> {
  const { stdout, stderr, signal } = environment;
  let debug = environment.argv.includes('--debug');
  let failure: { error: unknown } | undefined;
  let status: number = EXIT.ok;
  try {
    const line = parseCommandLine(environment.argv);
    debug = line.debug;
    if (line.version) {
      stdout.write(`cowstack ${packageVersion()}\n`);
      return EXIT.ok;
    }
    if (line.command === undefined) {
      if (!line.help) throw new UsageError('no command given (see \'cowstack --help\')');
      stdout.write(generalHelp(packageVersion()));
      return EXIT.ok;
    }
    const command = findCommand(line.command);
    const args = parseCommandArgs(command, line.rest);
    debug ||= args.debug;
    if (line.help || args.help) {
      stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    status = await runOnStore(command, args, storeDirectory(args.store ?? line.store, environment.env), environment);
  } catch (error) {
    failure = { error };
  }
  if (signal.aborted) {
    const original = failure?.error;
    failure = { error: signal.reason };
    if (debug && original !== undefined && original !== signal.reason) stderr.write(`${errorLine(original)}\n${stackOf(original)}`);
  }
  if (failure === undefined) return status;
  stderr.write(`${errorLine(failure.error)}\n`);
  if (debug) stderr.write(stackOf(failure.error));
  return exitStatusOf(failure.error);
}

async function runOnStore(command: Command, args: Args, dir: string, environment: CliEnvironment): Promise<number> {
  const { signal, stderr } = environment;
  const { store, recovery } = await openFor(command, args, dir);
  let outcome: { status: number } | { error: unknown };
  try {
    signal.throwIfAborted();
    const context: CommandContext = {
      store,
      out: new StreamOutput(environment.stdout),
      signal,
      progress: (label) => progressOn(stderr, label),
      recovery,
    };
    outcome = { status: (await command.run(context, args)) ?? EXIT.ok };
  } catch (error) {
    outcome = { error };
  }
  try {
    await store.close();
  } catch (error) {
    if ('status' in outcome) throw error;
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.status;
}

/** The stack trace, with every `cause` below it. */
function stackOf(error: unknown): string {
  const lines: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 8; depth++) {
    lines.push(current instanceof Error ? (current.stack ?? String(current)) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) lines.push('Caused by:');
  }
  return `${lines.join('\n')}\n`;
}
