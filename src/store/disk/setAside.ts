import { join } from 'node:path';
import type { FileSystem } from './FileSystem.js';

/**
 * Renames the damaged store file `dir/name` to the first free `name.damaged`, `name.damaged.2`,
 * `name.damaged.3`…, durably (the directory is synced); resolves to the name it now has. What
 * a store could not read is set aside for whoever investigates, never deleted nor overwritten.
 */
export async function setAside(fs: FileSystem, dir: string, name: string): Promise<string> {
  let kept = `${name}.damaged`;
  for (let n = 2; await fs.exists(join(dir, kept)); n++) kept = `${name}.damaged.${n}`;
  await fs.rename(join(dir, name), join(dir, kept));
  await fs.syncDir(dir);
  return kept;
}
