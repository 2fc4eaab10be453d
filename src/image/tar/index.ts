/** cowstack's tar: a streaming reader and writer of ustar, pax and GNU archives, and gzip around them. */
export { TAR_LIMITS } from './limits.js';
export { TarReader } from './TarReader.js';
export type { TarReaderOptions } from './TarReader.js';
export { TarWriter } from './TarWriter.js';
export type { TarBody } from './TarWriter.js';
export type { TarEntry, TarEntryHeader, TarEntryType, TarWriterHeader, TarWriterType } from './TarEntry.js';
export { gzip, isGzip, maybeGunzip } from './gzip.js';
