import { createHash } from 'node:crypto';
import { ModelError } from './ReferenceFs.js';
import type { FsLikeError } from './api.js';

/**
 * What the model allows a call to do: resolve (with `success.value`, when `success` is set) or
 * reject with one of `codes`. Usually exactly one of the two; both where API.md leaves the
 * answer open (a no-op write on a read-only layer may resolve or reject with EROFS).
 */
export interface Expected<T> {
  success?: { value: T };
  codes: readonly string[];
}

/** What the engine did. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; error: FsLikeError };

/** Runs a model call: its value, or the codes of the `ModelError` it threw. Any other throw is a bug of the model and propagates. */
export function expectOf<T>(call: () => T): Expected<T> {
  try {
    return { success: { value: call() }, codes: [] };
  } catch (error) {
    if (error instanceof ModelError) return { codes: error.codes };
    throw error;
  }
}

/** Runs an engine call: its value, or the error it rejected with, which must carry a string `code`. */
export async function attempt<T>(call: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (!(error instanceof Error) || typeof code !== 'string') {
      throw new Error(`engine threw something that is not an Error with a string code: ${String(error)}`, { cause: error });
    }
    return { ok: false, code, error: error as FsLikeError };
  }
}

function describeExpected<T>(expected: Expected<T>): string {
  const parts: string[] = [];
  if (expected.success) parts.push('success');
  parts.push(...expected.codes);
  return parts.join(' or ');
}

/**
 * Asserts that the engine did what the model allows. `compare` checks a resolved value against
 * the model's (throwing on a mismatch); without it, resolved values are not compared.
 */
export function assertOutcome<T, U>(
  label: string,
  expected: Expected<T>,
  actual: Outcome<U>,
  compare?: (actual: U, expected: T) => void,
): void {
  if (actual.ok) {
    if (!expected.success) {
      throw new Error(`${label}: expected ${describeExpected(expected)}, but it resolved`);
    }
    compare?.(actual.value, expected.success.value);
    return;
  }
  if (!expected.codes.includes(actual.code)) {
    throw new Error(`${label}: expected ${describeExpected(expected)}, but it rejected with ${actual.code} (${actual.error.message})`, {
      cause: actual.error,
    });
  }
}

/** Deep equality with a readable failure. */
export function assertEqual(label: string, actual: unknown, expected: unknown): void {
  const a = stableJson(actual);
  const e = stableJson(expected);
  if (a !== e) throw new Error(`${label}:\n  engine: ${a}\n  model:  ${e}`);
}

function describeBytes(bytes: Uint8Array): string {
  const sha = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
  return `<${bytes.length} bytes sha=${sha} ${Buffer.from(bytes.subarray(0, 16)).toString('hex')}>`;
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Uint8Array) return describeBytes(v);
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return describeBytes(Buffer.from((v as { data: number[] }).data));
    }
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)));
    }
    if (typeof v === 'bigint') return `${v}n`;
    return v;
  });
}
