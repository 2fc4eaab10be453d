import { open } from 'node:fs/promises';
import { fsError } from '../core/errors.js';
import type { BlobDescriptor } from '../image/imageExport.js';
import { checkAborted } from '../image/oci/byteStream.js';
import type { RegistryClient, UploadSource } from './RegistryClient.js';
import type { PushOptions } from './RegistryOptions.js';

/** A blob ready to go up: its descriptor, and the file holding its bytes. */
export interface LocalBlob {
  readonly descriptor: BlobDescriptor;
  readonly path: string;
}

const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

/** `options.chunkSize`, checked, or its default (16 MiB). */
export function chunkSizeOf(options: PushOptions): number {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new TypeError('chunkSize must be a positive integer');
  return chunkSize;
}

/**
 * Sends the blobs the registry lacks, in order (after asking for all of them at once), each
 * digest once; resolves to how many distinct blobs were not sent (there already, or mounted).
 */
export async function sendBlobs(client: RegistryClient, all: readonly LocalBlob[], options: PushOptions): Promise<number> {
  const chunkSize = chunkSizeOf(options);
  const blobs = [...new Map(all.map((blob) => [blob.descriptor.digest, blob])).values()];
  const present = await Promise.all(blobs.map((blob) => client.hasBlob(blob.descriptor)));
  const missing = blobs.filter((_, i) => !present[i]);
  const total = missing.reduce((sum, blob) => sum + blob.descriptor.size, 0);
  let skipped = blobs.length - missing.length;
  let done = 0;
  const onSent = (bytes: number): void => {
    done += bytes;
    options.onProgress?.({ done, total, unit: 'bytes' });
  };
  for (const blob of missing) {
    checkAborted(options.signal, 'push', blob.descriptor.digest);
    const file = await open(blob.path, 'r');
    try {
      const source: UploadSource = {
        read: async (offset, length) => {
          const buffer = Buffer.allocUnsafe(length);
          const { bytesRead } = await file.read(buffer, 0, length, offset);
          if (bytesRead !== length) throw fsError('EIO', { syscall: 'read', path: blob.path, detail: `the blob file ended at ${offset + bytesRead} bytes, expected ${offset + length}` });
          return buffer;
        },
      };
      const how = await client.uploadBlob(blob.descriptor, source, { mountFrom: options.mountFrom, chunkSize, onSent });
      if (how === 'mounted') skipped++;
    } finally {
      await file.close();
    }
  }
  return skipped;
}

