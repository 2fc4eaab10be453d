/**
 * What `importLayer` knows about one path of the layer it is building. Memory: an object of 5
 * fields, plus a `Map` for a directory with known children: about 200 bytes per path, for the
 * paths the archive names and the directories above them (never the parent's untouched paths).
 */
export interface PathNode {
  /** As found (lstat) or created: whether entries may go below it, and whether it is a link. */
  kind: 'dir' | 'symlink' | 'other';
  /** An entry of this layer put this path here (not an implicit parent, not the parent snapshot). */
  unpacked: boolean;
  /** This path or one below it is `unpacked`: a whiteout of this layer must keep it. */
  holdsUnpacked: boolean;
  /**
   * Directories only: the mtime it gets once every entry is in (as containerd sets directory
   * times last, after their children changed them): the entry's own, the one it had before this
   * layer touched it, or 0 for a parent the archive did not name. Undefined: not touched yet.
   */
  mtimeMs: number | undefined;
  /**
   * Directories only: nothing of the parent snapshot is left below it (this layer made it, or a
   * whiteout already cleared it), so a whiteout there has nothing to hide. Makes a repeated
   * whiteout cost nothing instead of another walk of the directory.
   */
  opaque: boolean;
  children: Map<string, PathNode> | undefined;
}

/** A node for a path found in the layer (`mtimeMs` undefined), or made by this layer (`mtimeMs` given). */
export function pathNode(kind: PathNode['kind'], mtimeMs?: number): PathNode {
  return { kind, unpacked: false, holdsUnpacked: false, mtimeMs, opaque: kind === 'dir' && mtimeMs !== undefined, children: undefined };
}

export function childOf(node: PathNode, name: string): PathNode | undefined {
  return node.children?.get(name);
}

export function setChild(node: PathNode, name: string, child: PathNode): void {
  (node.children ??= new Map()).set(name, child);
}

export function deleteChild(node: PathNode, name: string): void {
  node.children?.delete(name);
}

/** `name` inside the layer directory `dir` (`/` or `/a/b`). */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Every directory with a pending mtime, with its path: parents before their children. */
export function* pendingTimes(root: PathNode): Generator<[string, number]> {
  const stack: Array<[string, PathNode]> = [['/', root]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [path, node] = top;
    if (node.kind !== 'dir') continue;
    if (node.mtimeMs !== undefined) yield [path, node.mtimeMs];
    for (const [name, child] of node.children ?? []) stack.push([joinPath(path, name), child]);
  }
}
