import { tarError } from './tarError.js';

/**
 * The bounds the reader enforces on hostile input, and the writer on what it is asked to write
 * (so every archive `TarWriter` makes is one `TarReader` accepts). Each bound caps the memory one
 * entry's metadata can take; bodies are streamed and never held. Going past one is `EINVAL`.
 */
export const TAR_LIMITS = Object.freeze({
  /**
   * The largest pax extended header (`x` or `g`) body: 1 MiB. Also the most the records of every
   * global header seen so far may add up to, since they are kept for the rest of the archive.
   * Several `x` headers before one entry share this budget.
   */
  maxPaxHeaderBytes: 1024 * 1024,
  /** The largest GNU long name or long link record (`L`, `K`), its terminating NUL included: 64 KiB. */
  maxLongNameBytes: 64 * 1024,
  /** The longest path or link target, in UTF-8 bytes: 64 KiB. */
  maxPathBytes: 64 * 1024,
  /** The most components (non-empty runs between `/`) a path or link target may have: 4096. */
  maxPathDepth: 4096,
});

const SLASH = 0x2f;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Checks the bytes of a path or link target: rejects a NUL, and a path past `TAR_LIMITS`. `field`
 * names what is checked in the error; `entry` is the entry's name when already known.
 */
export function checkPath(bytes: Uint8Array, field: string, entry?: string): void {
  if (bytes.length > TAR_LIMITS.maxPathBytes) {
    throw tarError(`${field} is longer than ${TAR_LIMITS.maxPathBytes} bytes`, entry);
  }
  if (bytes.includes(0)) throw tarError(`${field} contains a NUL byte`, entry);
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== SLASH && (i === 0 || bytes[i - 1] === SLASH)) depth++;
  }
  if (depth > TAR_LIMITS.maxPathDepth) {
    throw tarError(`${field} has more than ${TAR_LIMITS.maxPathDepth} components`, entry);
  }
}

/**
 * Decodes the stored bytes of a path or link target exactly as stored, after `checkPath`; also
 * rejects bytes that are not UTF-8, which a JavaScript path could not name.
 */
export function decodePath(bytes: Uint8Array, field: string, entry?: string): string {
  checkPath(bytes, field, entry);
  try {
    return strictUtf8.decode(bytes);
  } catch (cause) {
    throw tarError(`${field} is not valid UTF-8`, entry, cause);
  }
}
