/**
 * What an entry of a tar archive is. `unsupported` stands for every typeflag cowstack does not
 * model (GNU sparse files, GNU dump directories, volume labels, vendor extensions…); the raw flag
 * is in `TarEntryHeader.typeflag`.
 */
export type TarEntryType =
  | 'file' | 'directory' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo' | 'unsupported';

/**
 * The header of one entry, with every extension (pax `x` and `g` records, GNU long names) already
 * applied. Precedence, as GNU tar and Go's archive/tar have it: a pax record over a GNU long
 * name over the ustar fields.
 */
export interface TarEntryHeader {
  /**
   * The name exactly as stored: never normalized, so it may be absolute, hold `..` or end in `/`
   * (GNU tar stores directories so). Judging it is the caller's job.
   */
  readonly path: string;
  readonly type: TarEntryType;
  /**
   * The raw typeflag character (`'0'`, `'\0'`, `'5'`, `'S'`…). Entries in a GNU sparse format
   * (typeflag `S`, or pax `GNU.sparse.*` records) are `unsupported` whatever their flag: their
   * body is a sparse map and data cowstack does not expand.
   */
  readonly typeflag: string;
  /** Permission bits with setuid, setgid and sticky: `0o7777` at most (file-type bits dropped). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Owner names; '' when the archive has none (v7). Bytes that are not UTF-8 become U+FFFD. */
  readonly uname: string;
  readonly gname: string;
  /**
   * How many bytes `body` yields. Always 0 for directories, links, devices and fifos, whose stored
   * size is ignored (as Go's archive/tar does): they carry no data.
   */
  readonly size: number;
  /** Modification time in milliseconds since the epoch; pax fractions kept, may be negative. */
  readonly mtimeMs: number;
  /** The target of a symlink or hardlink, exactly as stored; '' for other types. */
  readonly linkTarget: string;
  /** Device numbers of `char` and `block` entries; 0 for other types. */
  readonly devMajor: number;
  readonly devMinor: number;
  /**
   * Extended attributes from pax `SCHILY.xattr.NAME` records: NAME to the raw value bytes. An
   * empty value in an entry's own `x` header is an empty attribute (as GNU tar has it); in a `g`
   * header it deletes the global attribute.
   */
  readonly xattrs: ReadonlyMap<string, Uint8Array>;
}

/**
 * One entry as `TarReader` yields it. `body` streams exactly `header.size` bytes, read straight
 * from the stream: read it (partly or fully; a second loop goes on where the first stopped)
 * before asking the reader for the next entry. Whatever is left unread is then skipped, and
 * reading the body afterwards throws a `TypeError`. Chunks are views of the stream's own buffers.
 */
export interface TarEntry {
  readonly header: TarEntryHeader;
  readonly body: AsyncIterable<Uint8Array>;
}

/** The types `TarWriter` writes. */
export type TarWriterType = Exclude<TarEntryType, 'unsupported'>;

/**
 * What `TarWriter.add` is told about an entry. Only `path` and `type` are required; the others
 * default to 0, '' or empty, but `mode` (0o755 for directories, 0o777 for symlinks, 0o644 for the
 * rest) and `size` (the body's length when it is a `Uint8Array`). A `TarEntryHeader` of a
 * supported type is one of these, so entries can be copied from a reader to a writer.
 */
export interface TarWriterHeader {
  /** Stored as given, but a directory's gets a trailing `/` when it lacks one. */
  readonly path: string;
  readonly type: TarWriterType;
  /** File-type bits above `0o7777` are dropped, so a `stats.mode` may be passed as is. */
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Files only; required when the body is an `AsyncIterable`. Other types have no data. */
  readonly size?: number;
  /** Written in whole seconds (rounded down). */
  readonly mtimeMs?: number;
  /** Required for symlinks and hardlinks; must be '' or absent for other types. */
  readonly linkTarget?: string;
  /** Written for `char` and `block` entries only. */
  readonly devMajor?: number;
  readonly devMinor?: number;
  readonly xattrs?: ReadonlyMap<string, Uint8Array>;
}
