import { dirMapGet } from '../core/DirMap.js';
import type { Entry, LinkedRecord, NodeRecord } from '../core/Entry.js';
import { resolve } from '../core/resolve.js';
import type { Place, Tree } from '../core/Tree.js';
import { ReadAhead } from './ReadAhead.js';

/**
 * What an open `FileHandle` refers to: an inode, found by its physical path (kept current across
 * renames) or, when hard-linked, by its inode number in the link table. Once its last name is
 * gone the handle keeps the inode itself (`detached`), as POSIX keeps an unlinked open file.
 */
export class OpenFile {
  readonly ino: number;
  path: string;
  detached: NodeRecord | undefined;
  /** This handle's sequential-read state. */
  readonly readAhead = new ReadAhead();

  constructor(ino: number, path: string) {
    this.ino = ino;
    this.path = path;
  }

  /** Where the inode is in `tree`, or undefined when no name of it is left there. */
  locate(tree: Tree): { place: Place; stored: Entry; record: NodeRecord } | undefined {
    const linked = dirMapGet(tree.links, String(this.ino)) as LinkedRecord | undefined;
    if (linked !== undefined) return { place: { dirs: [], names: [], name: undefined }, stored: { type: 'link', ino: this.ino }, record: linked };
    try {
      const at = resolve(tree, this.path, false, { syscall: 'open', path: this.path });
      if (at.entry !== undefined && at.record?.ino === this.ino) return { place: at, stored: at.entry, record: at.record };
    } catch {
      // A component on the way is gone or no longer a directory: the name is gone.
    }
    return undefined;
  }

  /** Moves the path along when a rename moved it or a directory above it. */
  renamed(from: string, to: string): void {
    if (this.path === from) this.path = to;
    else if (this.path.startsWith(`${from}/`)) this.path = to + this.path.slice(from.length);
  }
}
