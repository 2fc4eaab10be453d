/**
 * The one maker of cowstack's errors. They are shaped as `node:fs` makes them: an `Error` whose
 * `code` is API (see shared/API.md), with `syscall` and `path` where there is one, and `cause`
 * when another error led to it. Messages are for people and may change; codes may not.
 *
 * A programmer's mistake (an argument of the wrong type) is a plain `TypeError`, not one of these.
 */
export type ErrorCode =
  | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EINVAL' | 'ELOOP' | 'EROFS'
  | 'EBADF' | 'EPERM' | 'EINTEGRITY' | 'ELOCKED' | 'EIO' | 'ENOSPC' | 'EACCES' | 'ECONNRESET'
  | 'ENAMETOOLONG' | 'EFBIG' | 'EBUSY' | 'ABORT_ERR';

const DESCRIPTIONS: Record<ErrorCode, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ELOOP: 'too many symbolic links encountered',
  EROFS: 'read-only file system',
  EBADF: 'bad file descriptor',
  EPERM: 'operation not permitted',
  EINTEGRITY: 'stored data does not match its hash',
  ELOCKED: 'store is locked by another writer',
  EIO: 'i/o error',
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
  ECONNRESET: 'connection reset',
  ENAMETOOLONG: 'name too long',
  EFBIG: 'file too large',
  EBUSY: 'resource busy or locked',
  ABORT_ERR: 'the operation was aborted',
};

/** An error as `node:fs` shapes them. */
export interface CowstackError extends Error {
  code: ErrorCode;
  syscall?: string;
  path?: string;
  dest?: string;
}

export interface ErrorDetails {
  /** The call that failed, as node names it (`open`, `rename`, `commit`, …). */
  syscall?: string;
  path?: string;
  /** The second path of a two-path call (`rename`, `link`). */
  dest?: string;
  /** Replaces the generic description of the code. */
  detail?: string;
  cause?: unknown;
}

/** Makes an error with `code`, as `node:fs` would word it: `ENOENT: no such file or directory, open '/x'`. */
export function fsError(code: ErrorCode, details: ErrorDetails = {}): CowstackError {
  let message = `${code}: ${details.detail ?? DESCRIPTIONS[code]}`;
  if (details.syscall !== undefined) message += `, ${details.syscall}`;
  if (details.path !== undefined) message += ` '${details.path}'`;
  if (details.dest !== undefined) message += ` -> '${details.dest}'`;
  const error = new Error(message, details.cause === undefined ? undefined : { cause: details.cause }) as CowstackError;
  error.code = code;
  if (details.syscall !== undefined) error.syscall = details.syscall;
  if (details.path !== undefined) error.path = details.path;
  if (details.dest !== undefined) error.dest = details.dest;
  return error;
}

/** True when `error` is one of ours (or node's) with the given code. */
export function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** Resolves as `pending` does, but to `undefined` where it rejects with `ENOENT`: a lookup of what may not exist. */
export async function unlessMissing<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}
