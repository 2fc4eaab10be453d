import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeType, TreeEntry } from '../model/ReferenceFs.js';
import { formatTree } from '../model/tree.js';

/**
 * Reads a real directory (an overlay mount) as `listTree` reads a layer, in the same order and
 * shape: depth first, names sorted, the root first; hard-link groups by `st_ino` (all layers of
 * the oracle's mounts are on one filesystem, where overlayfs reports the real inode numbers).
 * `hidden` names are left out at the root (the jail's skeleton). Nothing is followed: regular
 * files are read by a path of real directories only.
 *
 * Anything that is not a file, directory or symbolic link (a whiteout that leaked through,
 * a device) is an error naming the path.
 */
export async function listHostTree(dir: string, hidden: ReadonlySet<string> = new Set()): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const groups = new Map<number, string>();
  const visit = async (path: string, host: string): Promise<void> => {
    const st = await lstat(host);
    const type: NodeType | undefined = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : undefined;
    if (type === undefined) throw new Error(`${path} in ${dir} is neither file, directory nor symlink (mode ${st.mode.toString(8)}, rdev ${st.rdev}): a leaked whiteout?`);
    let linkGroup: string | undefined;
    if (type !== 'dir') {
      linkGroup = groups.get(st.ino) ?? path;
      groups.set(st.ino, linkGroup);
    }
    out.push({
      path,
      type,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      nlink: st.nlink,
      size: type === 'dir' ? undefined : st.size,
      data: type === 'file' ? await readFile(host) : undefined,
      target: type === 'symlink' ? await readlink(host) : undefined,
      linkGroup,
    });
    if (type !== 'dir') return;
    const names = (await readdir(host)).filter((name) => !(path === '/' && hidden.has(name))).sort();
    for (const name of names) await visit(path === '/' ? `/${name}` : `${path}/${name}`, join(host, name));
  };
  await visit('/', dir);
  return out;
}

/**
 * One line per entry, as `formatTree` gives them, but without the link count of directories:
 * overlayfs reports 1 for a merged directory (a documented property of overlayfs, not a
 * difference of behaviour), and API.md does not promise a directory's count either.
 */
export function comparableTree(entries: readonly TreeEntry[]): string[] {
  return formatTree(entries.map((entry) => (entry.type === 'dir' ? { ...entry, nlink: 0 } : entry)));
}

/** The lines of two trees that differ, `-` for `expected` only and `+` for `actual` only. */
export function treeDelta(actual: readonly string[], expected: readonly string[]): string {
  const a = new Set(actual);
  const e = new Set(expected);
  const lines = [...expected.filter((line) => !a.has(line)).map((line) => `  - ${line}`), ...actual.filter((line) => !e.has(line)).map((line) => `  + ${line}`)];
  return lines.join('\n');
}
