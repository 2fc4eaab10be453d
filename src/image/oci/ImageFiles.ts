import type { OpenedSource } from './byteStream.js';

/**
 * The files of an image source, by their names in it (`index.json`, `blobs/sha256/<hex>`, or a
 * `docker save` member such as `<id>/layer.tar`): an OCI layout directory, or a tar of one or of
 * `docker save`. Names are looked up, never joined into host paths unchecked: a directory serves
 * only the layout's fixed names and `blobs/sha256/<64 hex>`, an archive only its own members.
 *
 * Rules: `read` and `open` reject with `ENOENT` (syscall `importImage`, `path` the name) for a
 * name that is not there; `read` with `EINVAL` past `limit` bytes. `open` needs the name to have
 * been given to `prepare` first (an archive copies those members out in one pass). `close` frees
 * what `prepare` made; it is idempotent.
 */
export interface ImageFiles {
  /** What the source is, for messages: `directory` or `archive`. */
  readonly kind: 'directory' | 'archive';
  has(name: string): Promise<boolean>;
  /** A file's length in bytes. */
  size(name: string): Promise<number>;
  /** A small file (a JSON document) whole. */
  read(name: string, limit: number): Promise<Buffer>;
  prepare(names: readonly string[], signal?: AbortSignal): Promise<void>;
  open(name: string): Promise<OpenedSource>;
  close(): Promise<void>;
}
