/** The first read-ahead window, once two reads in a row were sequential. */
const MIN_WINDOW = 1 << 20;
/** The largest: 32 MiB ahead of the reader (a range of 16 MiB or more is what gets near a plain download from a registry: bench/README.md). */
const MAX_WINDOW = 32 << 20;

/**
 * Sequential-read detection for one open file, as the kernel's read-ahead does it: a read that
 * starts where the previous one ended opens a window past its end (1 MiB, doubling with each
 * further sequential read, up to 32 MiB); any other read closes it. The window is what the store
 * is asked to fetch ahead (`LayerHost.prefetch`): only blocks a source still has to fetch (a
 * lazily pulled file's) are fetched, so for stored data it costs nothing.
 */
export class ReadAhead {
  #end = -1;
  #window = 0;

  /** After a read of `[position, position + length)` of a file of `size` bytes: the byte range to fetch ahead, if any. */
  next(position: number, length: number, size: number): { start: number; end: number } | undefined {
    const sequential = position === this.#end;
    this.#end = position + length;
    this.#window = sequential ? Math.min(MAX_WINDOW, Math.max(MIN_WINDOW, this.#window * 2)) : 0;
    if (this.#window === 0 || this.#end >= size) return undefined;
    return { start: this.#end, end: Math.min(size, this.#end + this.#window) };
  }
}
