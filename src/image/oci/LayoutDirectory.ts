import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, hasCode } from '../../core/errors.js';
import type { OpenedSource } from './byteStream.js';
import type { ImageFiles } from './ImageFiles.js';

/** The only names a layout directory serves: fixed ones, and blobs named by a checked digest. */
const NAMES = /^(?:index\.json|oci-layout|blobs\/sha256\/[0-9a-f]{64})$/;

/** An OCI image layout directory (image-spec `image-layout.md`). */
export class LayoutDirectory implements ImageFiles {
  readonly kind = 'directory';
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async has(name: string): Promise<boolean> {
    try {
      return (await stat(this.#path(name))).isFile();
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return false;
      throw error;
    }
  }

  async size(name: string): Promise<number> {
    const handle = await this.#open(name);
    try {
      return (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  }

  async read(name: string, limit: number): Promise<Buffer> {
    const handle = await this.#open(name);
    try {
      const { size } = await handle.stat();
      if (size > limit) throw fsError('EINVAL', { syscall: 'importImage', path: name, detail: `larger than ${limit} bytes` });
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async prepare(): Promise<void> {}

  async open(name: string): Promise<OpenedSource> {
    const handle = await this.#open(name);
    const { size } = await handle.stat();
    return { stream: createReadStream('', { fd: handle }), total: size };
  }

  async close(): Promise<void> {}

  async #open(name: string): ReturnType<typeof open> {
    try {
      return await open(this.#path(name), 'r');
    } catch (error) {
      if (hasCode(error, 'ENOENT')) throw fsError('ENOENT', { syscall: 'importImage', path: name, detail: `the image has no ${name}`, cause: error });
      throw error;
    }
  }

  #path(name: string): string {
    if (!NAMES.test(name)) throw new TypeError(`not a name of an image layout: ${name}`);
    return join(this.#dir, ...name.split('/'));
  }
}
