import { constants } from 'node:os';

/**
 * Exit statuses of `cowstack`, documented in `--help` and README: each class of failure has its
 * own, so scripts can tell "not there" from "damaged" from "busy".
 */
export const EXIT = {
  ok: 0,
  /** Any error without a status of its own. */
  error: 1,
  /** Wrong command line: unknown command or option, missing or extra operand, bad value. */
  usage: 2,
  /** `ENOENT`: no such snapshot, path or source. */
  notFound: 3,
  /** `EINTEGRITY`: stored data does not match its hash (also `check` finding problems). */
  integrity: 4,
  /** `ELOCKED`: another process holds the store's writer lock. */
  locked: 5,
  /** Interrupted by SIGINT (128 + 2); SIGTERM gives 143. */
  interrupted: 130,
} as const;

/** A mistake on the command line; its code is `EUSAGE` and it exits with status 2. */
export class UsageError extends Error {
  readonly code = 'EUSAGE';
  override readonly name = 'UsageError';
}

/** The abort reason of a signal: the long operation it stops rejects with this. */
export class Interrupted extends Error {
  readonly code = 'ABORT_ERR';
  override readonly name = 'AbortError';
  readonly signal: NodeJS.Signals;

  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.signal = signal;
  }

  get exitStatus(): number {
    return 128 + (constants.signals[this.signal] ?? 2);
  }
}

/** The code an error is reported under: its `code`, or `ABORT_ERR` for an abort, or its name. */
export function errorCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'ERROR';
  const { code, name } = error as { code?: unknown; name?: unknown };
  if (typeof code === 'string' && code !== '') return code;
  if (name === 'AbortError') return 'ABORT_ERR';
  return typeof name === 'string' && name !== '' ? name : 'ERROR';
}

export function exitStatusOf(error: unknown): number {
  if (error instanceof Interrupted) return error.exitStatus;
  switch (errorCode(error)) {
    case 'EUSAGE': return EXIT.usage;
    case 'ENOENT': return EXIT.notFound;
    case 'EINTEGRITY': return EXIT.integrity;
    case 'ELOCKED': return EXIT.locked;
    case 'ABORT_ERR': return EXIT.interrupted;
    default: return EXIT.error;
  }
}

/**
 * The one line an error is reported as: `cowstack: CODE: message`. Messages of cowstack's and
 * node's errors already begin with their code (`ENOENT: no such file…`), which is not repeated.
 */
export function errorLine(error: unknown): string {
  const code = errorCode(error);
  const raw = error instanceof Error ? error.message : String(error);
  const message = raw.replace(/\s*\n\s*/g, ' ').trim();
  return `cowstack: ${message.startsWith(`${code}: `) ? message : `${code}: ${message}`}`;
}
