/**
 * The bounds `importLayer` and `importImage` put on hostile input, on top of the tar reader's own
 * (`TAR_LIMITS`: pax headers ≤ 1 MiB, names and link targets ≤ 64 KiB). Going past one rejects
 * with `EINVAL` and commits nothing. Bodies are streamed (at most `WRITE_CHUNK` bytes of a file
 * are held at once), so memory does not grow with the archive's bytes; it grows with its entries,
 * by about 200 bytes per entry (`LayerPaths`), as the tree being built does anyway.
 */
export interface LayerLimits {
  /** The most bytes of uncompressed tar one layer may hold: 64 GiB. Bounds a gzip bomb's time. */
  readonly maxBytes: number;
  /** The most entries one layer may hold: 1,000,000 (whiteouts and directories included). */
  readonly maxEntries: number;
  /**
   * The most components an entry's name, or a hard link's target, may have: 1024. Linux's
   * PATH_MAX (4096 bytes) allows at most 2048; real images stay far below 100.
   */
  readonly maxPathDepth: number;
}

export const LAYER_LIMITS: LayerLimits = Object.freeze({
  maxBytes: 64 * 1024 ** 3,
  maxEntries: 1_000_000,
  maxPathDepth: 1024,
});

/**
 * The largest JSON document (index, manifest, config, docker `manifest.json`) an image may hold:
 * 4 MiB. Such documents are read whole; real ones are a few KiB (a config with a long history,
 * tens of KiB).
 */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** The deepest chain of nested image indexes `importImage` follows: 4. */
export const MAX_INDEX_DEPTH = 4;

/** Bytes of a file gathered before one write into the layer: 1 MiB, a multiple of every block size. */
export const WRITE_CHUNK = 1024 * 1024;

/**
 * Bounds on an image archive (`docker save` tar, or a tar of an OCI layout) as a whole: 100,000
 * members (an image of n layers has about 4n) and 1 TiB of tar; its small members (≤
 * `MAX_JSON_BYTES`) are kept in memory up to 64 MiB in all, so one pass finds the documents.
 */
export const ARCHIVE_LIMITS = Object.freeze({
  maxMembers: 100_000,
  maxBytes: 1024 ** 4,
  cacheBytes: 64 * 1024 * 1024,
});
