/** The part of a file handle `copyContent` uses: node's `FileHandle` and a layer's both have it. */
export interface PositionalFile {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<unknown>;
}

/** Bytes moved per read and write: large enough to amortize calls, aligned with every block size. */
const CHUNK = 1 << 20;

/**
 * Copies all of `source` into `target` from offset 0, in `CHUNK`-sized positional reads and
 * writes (block-aligned, so a layer stores each block once), calling `onChunk` after each (it
 * may throw to stop). Resolves to the bytes copied.
 */
export async function copyContent(source: PositionalFile, target: PositionalFile, onChunk?: (bytes: number) => void): Promise<number> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let position = 0;
  for (;;) {
    const { bytesRead } = await source.read(buffer, 0, CHUNK, position);
    if (bytesRead === 0) return position;
    await target.write(buffer, 0, bytesRead, position);
    position += bytesRead;
    onChunk?.(bytesRead);
  }
}
