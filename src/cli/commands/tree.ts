import type { SnapshotInfo, SnapshotKind } from '../../index.js';
import type { Command } from '../Command.js';
import { formatBytes } from '../format.js';
import { sizeOrDamaged } from '../survey.js';

/** What `tree --json` prints: the roots, each with its children. */
export interface TreeNode {
  key: string;
  kind: SnapshotKind;
  /** `usage(key).size`: bytes of blocks it adds to its parent; null when damaged. */
  size: number | null;
  children: TreeNode[];
}

/** The snapshot graph as a forest: roots are snapshots without a parent, children in key order. */
async function snapshotForest(infos: readonly SnapshotInfo[], size: (key: string) => Promise<number | null>): Promise<TreeNode[]> {
  const nodes = new Map<string, TreeNode>();
  for (const info of infos) nodes.set(info.key, { key: info.key, kind: info.kind, size: await size(info.key), children: [] });
  const roots: TreeNode[] = [];
  for (const info of infos) {
    const parent = info.parent === undefined ? undefined : nodes.get(info.parent);
    (parent?.children ?? roots).push(nodes.get(info.key)!);
  }
  return roots;
}

/** The forest drawn with box-drawing branches, a size column and the kind. */
function drawForest(roots: readonly TreeNode[]): string[] {
  const rows: { label: string; node: TreeNode }[] = [];
  const visit = (node: TreeNode, prefix: string, branch: string): void => {
    rows.push({ label: `${prefix}${branch}${node.key}`, node });
    const below = prefix + (branch === '' ? '' : branch === '└── ' ? '    ' : '│   ');
    node.children.forEach((child, i) => visit(child, below, i === node.children.length - 1 ? '└── ' : '├── '));
  };
  for (const root of roots) visit(root, '', '');
  const sizes = rows.map(({ node }) => (node.size === null ? 'damaged' : formatBytes(node.size)));
  const labelWidth = Math.max(0, ...rows.map((row) => row.label.length));
  const sizeWidth = Math.max(0, ...sizes.map((size) => size.length));
  return rows.map(({ label, node }, i) => `${label.padEnd(labelWidth)}  ${sizes[i]!.padStart(sizeWidth)}  ${node.kind}`);
}

export const tree: Command = {
  name: 'tree',
  operands: '',
  arity: [0, 0],
  summary: 'draw the snapshot graph',
  description:
    'Draws every snapshot under its parent, with its own size (bytes of blocks it adds to its parent) and kind.',
  examples: ['cowstack tree', 'cowstack tree --json'],
  options: {
    json: { type: 'boolean', description: 'print the roots as nested { key, kind, size, children } objects' },
  },
  access: 'read',
  bulk: false,
  async run({ store, out }, { options }) {
    const infos: SnapshotInfo[] = [];
    for await (const info of store.walk()) infos.push(info);
    const roots = await snapshotForest(infos, (key) => sizeOrDamaged(store, key));
    if (options.json === true) {
      await out.json(roots);
      return;
    }
    for (const line of drawForest(roots)) await out.line(line);
  },
};
