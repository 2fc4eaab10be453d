import { join } from 'node:path';
import { fsError } from '../../core/errors.js';
import type { SourcePersistence, SourceRecord } from '../BlockSource.js';
import { checksumMatches, withChecksum } from './checksum.js';
import type { FileSystem } from './FileSystem.js';
import { writeFileAtomic, type PackStore } from './PackStore.js';
import { setAside } from './setAside.js';

const MAGIC = 'CWSR';
const VERSION = 1;
export const SOURCES_FILE = 'sources';

/**
 * The block sources of a durable store (what its lazily pulled snapshots still fetch from), in
 * one file, `sources`, replaced atomically like the catalog, under the pack store's fail-closed
 * rule. Format, integers little-endian:
 *
 * ```
 * sources := "CWSR" u32:version u32:jsonLength json[jsonLength]
 *            u32:blobCount (u32:length bytes[length])*blobCount  u32:crc32(all before)
 * json    := {"sources":[{"kind","name","spec","blobs":count}, …]}   blobs in record order
 * ```
 *
 * A record's attachments (a registry source's block indexes) follow the JSON, so ids stay
 * binary. The file is read whole at open. One that does not check (its CRC, its lengths) is
 * set aside as `sources.damaged` (`.2`, `.3`… when taken: `setAside`) and the store opens without sources: the blocks they would have
 * fetched are then missing, which `check` reports, and a lazy pull of the same image attaches
 * its source again.
 */
export class SourceCatalog implements SourcePersistence {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #packs: PackStore;

  constructor(fs: FileSystem, dir: string, packs: PackStore) {
    this.#fs = fs;
    this.#dir = dir;
    this.#packs = packs;
  }

  /** The records saved last; none when there is no file, or when it is damaged (then quarantined, unless `readOnly`). */
  async load(readOnly: boolean): Promise<SourceRecord[]> {
    const path = join(this.#dir, SOURCES_FILE);
    if (!(await this.#fs.exists(path))) return [];
    const bytes = await this.#fs.readFile(path);
    try {
      return decode(bytes);
    } catch {
      if (!readOnly) await this.#packs.guardedWrite(() => setAside(this.#fs, this.#dir, SOURCES_FILE));
      return [];
    }
  }

  async save(records: readonly SourceRecord[]): Promise<void> {
    await this.#packs.guardedWrite(() => writeFileAtomic(this.#fs, this.#dir, SOURCES_FILE, encode(records)));
  }
}

function encode(records: readonly SourceRecord[]): Buffer {
  const json = Buffer.from(JSON.stringify({ sources: records.map(({ kind, name, spec, blobs }) => ({ kind, name, spec, blobs: blobs.length })) }), 'utf8');
  const blobs = records.flatMap((record) => record.blobs);
  const parts: Uint8Array[] = [header(json.length), json, u32(blobs.length)];
  for (const blob of blobs) parts.push(u32(blob.byteLength), blob);
  return withChecksum(Buffer.concat(parts));
}

function decode(bytes: Buffer): SourceRecord[] {
  const damaged = (detail: string): Error => fsError('EINTEGRITY', { syscall: 'open', path: SOURCES_FILE, detail });
  if (bytes.length < 16 || bytes.toString('latin1', 0, 4) !== MAGIC) throw damaged('not a cowstack sources file');
  if (!checksumMatches(bytes)) throw damaged('checksum does not match');
  const version = bytes.readUInt32LE(4);
  if (version !== VERSION) throw damaged(`format version ${version}`);
  const jsonLength = bytes.readUInt32LE(8);
  let at = 12 + jsonLength;
  const listed = (JSON.parse(bytes.toString('utf8', 12, at)) as { sources?: unknown }).sources;
  if (!Array.isArray(listed) || !listed.every(isListedRecord)) throw damaged('the list of sources is not readable');
  const blobs: Uint8Array[] = [];
  const count = bytes.readUInt32LE(at);
  at += 4;
  for (let i = 0; i < count; i++) {
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.length - 4) throw damaged('a blob runs past the end');
    blobs.push(Buffer.from(bytes.subarray(at + 4, at + 4 + length)));
    at += 4 + length;
  }
  if (at !== bytes.length - 4) throw damaged('trailing bytes');
  let next = 0;
  const records = listed.map(({ kind, name, spec, blobs: n }) => ({ kind, name, spec, blobs: blobs.slice(next, (next += n)) }));
  if (next !== blobs.length) throw damaged('the records do not account for every blob');
  return records;
}

function isListedRecord(item: unknown): item is { kind: string; name: string; spec: unknown; blobs: number } {
  const fields = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
  return typeof fields.kind === 'string' && typeof fields.name === 'string' && Number.isSafeInteger(fields.blobs) && (fields.blobs as number) >= 0;
}

function header(jsonLength: number): Buffer {
  const out = Buffer.alloc(12);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(VERSION, 4);
  out.writeUInt32LE(jsonLength, 8);
  return out;
}

function u32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0);
  return out;
}
