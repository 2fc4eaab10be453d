import type { Progress, Store } from '../index.js';
import type { CatalogRecovery } from '../store/disk/recoverCatalog.js';

/**
 * The contract of one `cowstack` subcommand. The runner (`runCli.ts`) parses its arguments with
 * `node:util`'s `parseArgs` against `options`, checks the operand count, opens the store as
 * `access` says, runs it, closes the store and turns what it threw into an exit code. A command
 * never writes to stderr, never exits the process and never opens a store of its own: that keeps
 * it callable from the demo, on a store the demo holds, with the same output.
 *
 * Rules for `run`:
 * - Output goes to `context.out`, whole lines; listings print `--json` as one JSON document.
 * - Long work passes `context.signal` and a `context.progress(…)` sink to the API, and leaves the
 *   store as it was when it is aborted (nothing half-applied).
 * - It rejects with the API's errors (their `code` is the exit status's source) or `UsageError`;
 *   it resolves to an exit status only to report a finding without an error (`check`'s problems).
 */
export interface Command {
  readonly name: string;
  /** Operands as the synopsis writes them: `KEY [PARENT]`. */
  readonly operands: string;
  /** Least and most operands. */
  readonly arity: readonly [min: number, max: number];
  readonly summary: string;
  /** Paragraphs for `--help`, after the synopsis. */
  readonly description: string;
  readonly examples: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /**
   * How the store is opened: `read` opens an existing store without the writer lock (so reading
   * never waits for, nor blocks, a writer), `write` takes the lock. Both create a missing store.
   * `recover` is `cowstack recover`'s alone: a store whose catalog is lost or damaged refuses to
   * open, so the runner first rebuilds the catalog (`recoverDiskStore`, under the writer lock; it
   * never creates a store), then opens the store as `write` does and hands the command the
   * report in `context.recovery`.
   */
  readonly access: StoreAccess | ((args: Args) => StoreAccess);
  /** True when the command hashes or re-hashes blocks in bulk: the store then gets worker threads. */
  readonly bulk: boolean;
  /** Options for opening the store that the command's arguments decide (`init --block-size`). */
  openOptions?(args: Args): { blockSize?: number };
  run(context: CommandContext, args: Args): Promise<number | void>;
}

export type StoreAccess = 'read' | 'write' | 'recover';

/** One option as `parseArgs` takes it, with what `--help` says about it. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The placeholder of a string option's value: `--parent P`. */
  readonly value?: string;
  readonly description: string;
}

export interface Args {
  readonly operands: readonly string[];
  readonly options: Readonly<Record<string, string | boolean | undefined>>;
}

export interface CommandContext {
  readonly store: Store;
  readonly out: Output;
  /** Aborted by Ctrl-C (SIGINT) or SIGTERM. */
  readonly signal: AbortSignal;
  /** A progress sink for one long operation: draws on a terminal, does nothing otherwise. */
  progress(label: string): ProgressSink;
  /** What rebuilding the catalog did, when the command's access is `recover`; undefined otherwise. */
  readonly recovery?: CatalogRecovery;
}

/** Standard output, with backpressure. Once the reader has gone (`EPIPE`), writes do nothing. */
export interface Output {
  write(data: string | Uint8Array): Promise<void>;
  line(text?: string): Promise<void>;
  json(value: unknown): Promise<void>;
  readonly closed: boolean;
}

export interface ProgressSink {
  /** Takes the API's `onProgress` reports. */
  readonly update: (progress: Progress) => void;
  /** Clears what was drawn; idempotent. */
  done(): void;
}
