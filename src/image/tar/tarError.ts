import { fsError } from '../../core/errors.js';
import type { CowstackError } from '../../core/errors.js';

/**
 * The one error the tar code rejects with for bad input: `EINVAL`, syscall `tar`, naming the
 * entry when its name is known (`path`). `detail` says what was wrong, for people.
 */
export function tarError(detail: string, path?: string, cause?: unknown): CowstackError {
  return fsError('EINVAL', { syscall: 'tar', path, detail, cause });
}
