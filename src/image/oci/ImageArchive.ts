import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { fsError, hasCode } from '../../core/errors.js';
import { TarReader, maybeGunzip, type TarEntry, type TarEntryType } from '../tar/index.js';
import { checkAborted, type OpenedSource } from './byteStream.js';
import type { ImageFiles } from './ImageFiles.js';
import { ARCHIVE_LIMITS, MAX_JSON_BYTES } from './limits.js';

interface Member {
  /** Its place in the archive: the n-th entry. */
  readonly ordinal: number;
  readonly type: TarEntryType;
  readonly size: number;
  readonly linkTarget: string;
}

/** Links followed to find a member (`docker save` links a repeated layer to its first copy). */
const MAX_LINKS = 16;
const SYSCALL = 'importImage';

/**
 * A tar (or tar.gz) of an image: `docker save` output (`manifest.json` and member tars), or a tar
 * of an OCI layout. A tar has no index, so it is read in passes, each streaming: `ImageArchive.open`
 * lists the members and keeps the small ones (the documents) in memory; `prepare` copies the
 * members about to be imported to a temporary directory in one more pass, so layers can then be
 * read in the image's order whatever their order in the archive, and layers the store already has
 * are never copied. Member names are looked up, never used as host paths: the copies are named by
 * their ordinal. Symbolic and hard links between members are followed inside the archive.
 */
export class ImageArchive implements ImageFiles {
  readonly kind = 'archive';
  readonly #path: string;
  readonly #members = new Map<string, Member>();
  /** Small members' bytes, by ordinal. */
  readonly #cache = new Map<number, Buffer>();
  /** Copied members' temporary files, by ordinal. */
  readonly #copies = new Map<number, string>();
  #tmp: string | undefined;

  private constructor(path: string) {
    this.#path = path;
  }

  static async open(path: string, signal?: AbortSignal): Promise<ImageArchive> {
    const archive = new ImageArchive(path);
    await archive.#index(signal);
    return archive;
  }

  async has(name: string): Promise<boolean> {
    try {
      this.#resolve(name);
      return true;
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return false;
      throw error;
    }
  }

  async size(name: string): Promise<number> {
    return this.#resolve(name).size;
  }

  async read(name: string, limit: number): Promise<Buffer> {
    const member = this.#resolve(name);
    if (member.size > limit) throw fsError('EINVAL', { syscall: SYSCALL, path: name, detail: `larger than ${limit} bytes` });
    const cached = this.#cache.get(member.ordinal);
    if (cached !== undefined) return cached;
    let bytes: Buffer | undefined;
    await this.#scan(async (ordinal, entry) => {
      if (ordinal === member.ordinal) bytes = await readAll(entry);
    });
    this.#cache.set(member.ordinal, bytes!);
    return bytes!;
  }

  async prepare(names: readonly string[], signal?: AbortSignal): Promise<void> {
    const wanted = new Set<number>();
    for (const name of names) {
      const { ordinal } = this.#resolve(name);
      if (!this.#cache.has(ordinal) && !this.#copies.has(ordinal)) wanted.add(ordinal);
    }
    if (wanted.size === 0) return;
    this.#tmp ??= await mkdtemp(join(tmpdir(), 'cowstack-image-'));
    const tmp = this.#tmp;
    await this.#scan(async (ordinal, entry) => {
      if (!wanted.has(ordinal)) return;
      const file = join(tmp, String(ordinal));
      const handle = await open(file, 'wx', 0o600);
      try {
        for await (const chunk of entry.body) {
          checkAborted(signal, SYSCALL, this.#path);
          await handle.write(chunk);
        }
      } finally {
        await handle.close();
      }
      this.#copies.set(ordinal, file);
    }, signal);
  }

  async open(name: string): Promise<OpenedSource> {
    const member = this.#resolve(name);
    const cached = this.#cache.get(member.ordinal);
    if (cached !== undefined) return { stream: Readable.from([cached], { objectMode: false }), total: cached.length };
    const copy = this.#copies.get(member.ordinal);
    if (copy === undefined) throw new TypeError(`'${name}' was not prepared`);
    return { stream: createReadStream(copy), total: member.size };
  }

  async close(): Promise<void> {
    const tmp = this.#tmp;
    this.#tmp = undefined;
    this.#copies.clear();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }

  /** Lists the members, keeping the small regular ones. */
  async #index(signal: AbortSignal | undefined): Promise<void> {
    let cached = 0;
    await this.#scan(async (ordinal, { header, body }) => {
      const name = normalize(header.path);
      this.#members.set(name, { ordinal, type: header.type, size: header.size, linkTarget: header.linkTarget });
      if (header.type === 'file' && header.size <= MAX_JSON_BYTES && cached + header.size <= ARCHIVE_LIMITS.cacheBytes) {
        cached += header.size;
        this.#cache.set(ordinal, await readAll({ header, body }));
      }
    }, signal);
  }

  async #scan(visit: (ordinal: number, entry: TarEntry) => Promise<void>, signal?: AbortSignal): Promise<void> {
    const reader = new TarReader(maybeGunzip(createReadStream(this.#path)), { maxEntries: ARCHIVE_LIMITS.maxMembers, maxBytes: ARCHIVE_LIMITS.maxBytes });
    let ordinal = 0;
    for await (const entry of reader) {
      checkAborted(signal, SYSCALL, this.#path);
      await visit(ordinal++, entry);
    }
  }

  /** The regular member `name` stands for, following links inside the archive. */
  #resolve(name: string): Member {
    let current = normalize(name);
    for (let hops = 0; hops <= MAX_LINKS; hops++) {
      const member = this.#members.get(current);
      if (member === undefined) break;
      if (member.type === 'file') return member;
      if (member.type === 'symlink' && !member.linkTarget.startsWith('/')) current = posix.normalize(posix.join(posix.dirname(current), member.linkTarget));
      else if (member.type === 'hardlink') current = normalize(member.linkTarget);
      else break;
      if (current.startsWith('../')) break;
    }
    throw fsError('ENOENT', { syscall: SYSCALL, path: name, detail: `the archive has no file ${name}` });
  }
}

/** A member name as `manifest.json` spells it: no leading `./`, no trailing `/`. */
function normalize(name: string): string {
  return name.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
}

async function readAll(entry: TarEntry): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of entry.body) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts, entry.header.size);
}
