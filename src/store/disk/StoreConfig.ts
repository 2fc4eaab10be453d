import { join } from 'node:path';
import { fsError } from '../../core/errors.js';
import type { FileSystem } from './FileSystem.js';
import { writeFileAtomic } from './PackStore.js';

/** The store format this code writes and the newest it reads. */
export const STORE_VERSION = 1;
const MAGIC = 'cowstack-store';
const CONFIG_FILE = 'config';

/**
 * A store directory's fixed settings, in `config` (JSON, first the magic and the version):
 * `{"magic":"cowstack-store","version":1,"blockSize":65536}`. Written once, when the store is
 * created; a store of a newer version is refused, and so is reopening with another block size.
 */
export interface StoreConfig {
  readonly version: number;
  readonly blockSize: number;
}

/** Reads `dir`'s config; undefined when the directory holds no store yet. */
export async function readConfig(fs: FileSystem, dir: string): Promise<StoreConfig | undefined> {
  const path = join(dir, CONFIG_FILE);
  if (!(await fs.exists(path))) return undefined;
  let parsed: { magic?: unknown; version?: unknown; blockSize?: unknown };
  try {
    parsed = JSON.parse((await fs.readFile(path)).toString('utf8')) as typeof parsed;
  } catch (error) {
    throw fsError('EINTEGRITY', { syscall: 'open', path, detail: 'store config is not valid JSON', cause: error });
  }
  if (parsed.magic !== MAGIC || typeof parsed.version !== 'number' || typeof parsed.blockSize !== 'number') {
    throw fsError('EINVAL', { syscall: 'open', path: dir, detail: 'not a cowstack store directory' });
  }
  if (parsed.version > STORE_VERSION) {
    throw fsError('EINVAL', { syscall: 'open', path: dir, detail: `store format version ${parsed.version} is newer than this cowstack knows (${STORE_VERSION})` });
  }
  return { version: parsed.version, blockSize: parsed.blockSize };
}

/** Creates the config of a new store. */
export async function writeConfig(fs: FileSystem, dir: string, config: StoreConfig): Promise<void> {
  const text = `${JSON.stringify({ magic: MAGIC, version: config.version, blockSize: config.blockSize })}\n`;
  await writeFileAtomic(fs, dir, CONFIG_FILE, Buffer.from(text, 'utf8'));
}
