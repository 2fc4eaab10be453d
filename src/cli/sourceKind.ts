import { createReadStream } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, hasCode } from '../core/errors.js';
import { TarReader, maybeGunzip } from '../image/tar/index.js';

/**
 * What `cowstack import` was given:
 * - `directory`: a real directory tree, committed as one snapshot;
 * - `image-layout`: an OCI image layout directory (it holds an `oci-layout` file);
 * - `image-archive`: a tar (maybe gzip'd) of a whole image, as `docker save` writes it (the
 *   legacy `<id>/layer.tar` form or the OCI form with `blobs/sha256/…`);
 * - `layer`: a tar (maybe gzip'd) of one layer's files.
 */
export type SourceKind = 'directory' | 'image-layout' | 'image-archive' | 'layer';

/** How many leading entries decide between an image archive and a layer. */
const ENTRIES_LOOKED_AT = 4;

/**
 * Names a `docker save` archive holds, in either of its forms; a layer's first entries are a
 * root file system's (`bin/`, `etc/passwd`, `.wh.…`), never all of these.
 */
const IMAGE_ARCHIVE_NAME = /^(?:[0-9a-f]{64}(?:\/|\/VERSION|\/json|\/layer\.tar|\.json)|blobs\/?|blobs\/sha256\/?|blobs\/sha256\/[0-9a-f]{64}|oci-layout|index\.json|manifest\.json|repositories)$/;

/**
 * Tells what `source` is from its type and first bytes. An archive is told by its first few
 * entries (headers only; bodies are skipped): an image archive when every one of them is a name
 * `docker save` writes, a layer otherwise. Rejects with `ENOENT` when `source` is missing and
 * `EINVAL` when it is neither a directory nor a tar or tar.gz.
 */
export async function sourceKind(source: string): Promise<SourceKind> {
  const stats = await stat(source);
  if (stats.isDirectory()) {
    try {
      return (await lstat(join(source, 'oci-layout'))).isFile() ? 'image-layout' : 'directory';
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return 'directory';
      throw error;
    }
  }
  if (!stats.isFile()) throw fsError('EINVAL', { syscall: 'import', path: source, detail: 'not a directory, a tar or a gzip\'d tar' });
  let looked = 0;
  let image = true;
  try {
    for await (const entry of new TarReader(maybeGunzip(createReadStream(source)))) {
      const name = entry.header.path.replace(/^\.\//, '');
      if (name === '' || name === '.') continue;
      image &&= IMAGE_ARCHIVE_NAME.test(name);
      if (!image || ++looked >= ENTRIES_LOOKED_AT) break;
    }
  } catch (error) {
    if (hasCode(error, 'EINVAL')) {
      throw fsError('EINVAL', { syscall: 'import', path: source, detail: 'not a directory, a tar or a gzip\'d tar', cause: error });
    }
    throw error;
  }
  return image && looked > 0 ? 'image-archive' : 'layer';
}
