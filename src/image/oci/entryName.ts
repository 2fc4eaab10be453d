import { fsError, type CowstackError } from '../../core/errors.js';

/** A layer entry's name, checked: where in the layer it lands. */
export interface EntryName {
  /** Components below the root; empty for the root itself. */
  readonly parts: readonly string[];
  /** The absolute path in the layer: `/a/b`, or `/` for the root. */
  readonly path: string;
}

/**
 * Checks the stored name of a layer entry (or a hard link's target) and says where it lands. Names
 * are never cleaned: a name that only cleaning would make safe is rejected, so what lands in the
 * layer is exactly what the archive says. The grammar accepted is
 *
 *     name = [ "./" ] component *( "/" component ) [ "/" ]   ; trailing "/" for directories only
 *          | "." | "./"                                     ; the root, for a directory entry only
 *
 * where a component is any non-empty string other than `.` and `..`. So these reject with
 * `EINVAL`: an empty name, `/`, `.` or `./` for anything but a directory, an absolute name (`/x`,
 * `////x`), a `..` or `.` component anywhere (`./.`, `a/./b`, `a/..`), an empty component
 * (`a//b`), a trailing `/` on a non-directory, more than `maxDepth` components. One leading `./`
 * is allowed because `tar -C dir -cf layer.tar .` writes every name so (`tar` and containerd strip
 * it too); a directory named `.` (umoci) or `./` (GNU tar) is the root, whose metadata it sets.
 * `entry` names the entry in the error.
 */
export function parseEntryName(name: string, directory: boolean, maxDepth: number, entry: string, what = 'name'): EntryName {
  const reject = (detail: string): CowstackError => fsError('EINVAL', { syscall: 'importLayer', path: entry, detail: `${what} ${JSON.stringify(name)} ${detail}` });
  if (name === '') throw reject('is empty');
  if (name === '.' || name === './') {
    if (directory) return { parts: [], path: '/' };
    throw reject('names the root, which only a directory entry may describe');
  }
  if (name.startsWith('/')) throw reject('is absolute: layer entries are relative to the root');
  let rest = name.startsWith('./') ? name.slice(2) : name;
  if (rest.endsWith('/')) {
    if (!directory) throw reject('ends in "/" but is not a directory');
    rest = rest.slice(0, -1);
  }
  if (rest === '') throw reject('does not name an entry');
  const parts = rest.split('/');
  if (parts.length > maxDepth) throw reject(`has more than ${maxDepth} components`);
  for (const part of parts) {
    if (part === '') throw reject('has an empty component');
    if (part === '.' || part === '..') throw reject(`has a "${part}" component`);
  }
  return { parts, path: `/${parts.join('/')}` };
}
