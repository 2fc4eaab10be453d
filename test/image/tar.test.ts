import fc from 'fast-check';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TAR_LIMITS, TarReader, TarWriter, gzip, isGzip, maybeGunzip } from '../../src/image/tar/index.js';
import type { TarEntryHeader, TarReaderOptions, TarWriterHeader, TarWriterType } from '../../src/image/tar/index.js';
import { encodeHeader } from '../../src/image/tar/encodeHeader.js';
import { encodePax } from '../../src/image/tar/pax.js';
import { BLOCK_SIZE, FIELDS, encodeUstar } from '../../src/image/tar/ustar.js';

// ---- helpers -------------------------------------------------------------------------------

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const END = new Uint8Array(2 * BLOCK_SIZE);

interface Input {
  header: TarWriterHeader;
  body?: Uint8Array;
  /** Hand the body to the writer as a stream of this many chunks rather than as bytes. */
  streamed?: number;
}

interface Read {
  header: TarEntryHeader;
  data: Buffer;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Yields `bytes` in pieces of `size` bytes, as a stream would. */
async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function write(entries: readonly Input[]): Promise<Buffer> {
  const writer = new TarWriter();
  const out = collect(writer);
  for (const { header, body, streamed } of entries) {
    const size = body?.length ?? 0;
    if (streamed === undefined || body === undefined) await writer.add(header, body);
    else await writer.add({ ...header, size }, chunks(body, Math.max(1, Math.ceil(size / streamed))));
  }
  await writer.finish();
  return out;
}

async function read(source: Uint8Array | AsyncIterable<Uint8Array>, options?: TarReaderOptions): Promise<Read[]> {
  const entries: Read[] = [];
  const stream = source instanceof Uint8Array ? chunks(source, 65536) : source;
  for await (const { header, body } of new TarReader(stream, options)) entries.push({ header, data: await collect(body) });
  return entries;
}

const FLAGS: Record<TarWriterType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6',
};
const DEFAULT_MODES: Record<TarWriterType, number> = {
  file: 0o644, directory: 0o755, symlink: 0o777, hardlink: 0o644, char: 0o644, block: 0o644, fifo: 0o644,
};

/** What the reader must report for an entry the writer was given. */
function expected({ header: h, body }: Input): TarEntryHeader {
  const device = h.type === 'char' || h.type === 'block';
  return {
    path: h.type === 'directory' && !h.path.endsWith('/') ? `${h.path}/` : h.path,
    type: h.type,
    typeflag: FLAGS[h.type],
    mode: (h.mode ?? DEFAULT_MODES[h.type]) & 0o7777,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
    uname: h.uname ?? '',
    gname: h.gname ?? '',
    size: h.type === 'file' ? (body?.length ?? 0) : 0,
    mtimeMs: 0 + Math.round(h.mtimeMs ?? 0), // kept to the millisecond; 0 + turns -0 into 0
    linkTarget: h.linkTarget ?? '',
    devMajor: device ? (h.devMajor ?? 0) : 0,
    devMinor: device ? (h.devMinor ?? 0) : 0,
    xattrs: h.xattrs ?? new Map(),
  };
}

/** A ustar header block of a regular file (or `typeflag`) with `size` bytes of body. */
function rawHeader(name: string, typeflag = '0', size = 0): Uint8Array {
  return encodeUstar({
    name: encoder.encode(name), prefix: EMPTY, mode: 0o644, uid: 0, gid: 0, size, mtime: 0, typeflag,
    linkname: EMPTY, uname: EMPTY, gname: EMPTY, devMajor: 0, devMinor: 0,
  });
}

/** The block with `field` overwritten by `bytes` (the rest of the field zeroed), checksum redone. */
function withField(block: Uint8Array, [offset, length]: readonly [number, number], bytes: Uint8Array | string): Uint8Array {
  const out = Uint8Array.from(block);
  out.fill(0, offset, offset + length);
  out.set(typeof bytes === 'string' ? encoder.encode(bytes) : bytes, offset);
  return withChecksum(out, false);
}

function withChecksum(block: Uint8Array, signed: boolean): Uint8Array {
  const out = Uint8Array.from(block);
  out.fill(0x20, FIELDS.checksum[0], FIELDS.checksum[0] + FIELDS.checksum[1]);
  let sum = 0;
  for (const byte of out) sum += signed && byte > 127 ? byte - 256 : byte;
  out.set(encoder.encode(`${(sum >>> 0).toString(8).padStart(6, '0').slice(-6)}\0 `), FIELDS.checksum[0]);
  return out;
}

function padded(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  const out = new Uint8Array(Math.ceil(bytes.length / BLOCK_SIZE) * BLOCK_SIZE);
  out.set(bytes);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

/** A file entry made by hand: its header block and its padded body. */
function rawFile(name: string, data = ''): Uint8Array {
  return concat(rawHeader(name, '0', encoder.encode(data).length), padded(data));
}

/** A pax header (`x` or `g`) made by hand from records. */
function rawPax(records: Array<[string, string | Uint8Array]>, typeflag = 'x'): Uint8Array {
  const data = encodePax(records.map(([key, value]) => [key, typeof value === 'string' ? encoder.encode(value) : value]));
  return concat(rawHeader('PaxHeaders.0/x', typeflag, data.length), padded(data));
}

// ---- round trips ---------------------------------------------------------------------------

const TYPES: TarWriterType[] = ['file', 'directory', 'symlink', 'hardlink', 'char', 'block', 'fifo'];
const noNul = (text: string): boolean => !text.includes('\0');
const segment = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 110 }),
).filter((text) => noNul(text) && !text.includes('/'));
const pathArb = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/'));
const nameArb = fc.oneof(fc.constant(''), fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }))
  .filter(noNul);
const idArb = fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 40 }));
const bodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 1100 }),
  fc.constantFrom(0, 1, 511, 512, 513, 1024).map((n) => new Uint8Array(n).fill(0xa5)),
);
const xattrsArb = fc.array(
  fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((k) => noNul(k) && !k.includes('=')), fc.uint8Array({ maxLength: 40 })),
  { maxLength: 3 },
).map((pairs) => new Map(pairs));

const inputArb: fc.Arbitrary<Input> = fc.record({
  path: pathArb,
  type: fc.constantFrom(...TYPES),
  mode: fc.option(fc.integer({ min: 0, max: 0o7777 }), { nil: undefined }),
  uid: idArb,
  gid: idArb,
  uname: nameArb,
  gname: nameArb,
  mtimeMs: fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 42 }), fc.double({ min: -1e13, max: 1e13, noNaN: true })),
  body: bodyArb,
  streamed: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  linkTarget: fc.string({ unit: 'binary', minLength: 1, maxLength: 150 }).filter(noNul),
  devMajor: fc.integer({ min: 0, max: 0o7777777 }),
  devMinor: fc.integer({ min: 0, max: 0o7777777 }),
  xattrs: xattrsArb,
}).map(({ type, body, streamed, linkTarget, devMajor, devMinor, ...rest }) => {
  const header: TarWriterHeader = {
    ...rest,
    type,
    ...(type === 'symlink' || type === 'hardlink' ? { linkTarget } : {}),
    ...(type === 'char' || type === 'block' ? { devMajor, devMinor } : {}),
  };
  return type === 'file' ? { header, body, streamed } : { header };
});

describe('TarWriter → TarReader', () => {
  it('round-trips any entries, through any chunking of the stream', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(inputArb, { maxLength: 6 }), fc.integer({ min: 1, max: 3000 }), async (inputs, chunkSize) => {
        const archive = await write(inputs);
        const entries = await read(chunks(archive, chunkSize));
        expect(entries.map((entry) => entry.header)).toEqual(inputs.map(expected));
        entries.forEach((entry, i) => expect(entry.data.equals(inputs[i]!.body ?? EMPTY)).toBe(true));
      }),
      { numRuns: 150 },
    );
  });

  it('writes byte-identical archives for identical input', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(inputArb, { maxLength: 4 }), async (inputs) => {
        expect((await write(inputs)).equals(await write(inputs))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('writes plain ustar, one block per header, when every value fits', async () => {
    const archive = await write([{ header: { path: `${'d'.repeat(150)}/${'f'.repeat(100)}`, type: 'file' }, body: new Uint8Array(600) }]);
    expect(archive.length).toBe(BLOCK_SIZE + 1024 + END.length);
    expect(String.fromCharCode(archive[FIELDS.typeflag[0]]!)).toBe('0');
  });

  it('adds a pax header for what ustar cannot hold', async () => {
    const cases: TarWriterHeader[] = [
      { path: 'x'.repeat(101), type: 'file' },
      { path: 'é', type: 'file' },
      { path: 'l', type: 'symlink', linkTarget: 't'.repeat(101) },
      { path: 'u', type: 'file', uid: 0o10000000 },
      { path: 'g', type: 'file', gname: 'g'.repeat(32) },
      { path: 'm', type: 'file', mtimeMs: -1000 },
      { path: 'a', type: 'file', xattrs: new Map([['user.k', encoder.encode('v')]]) },
    ];
    for (const header of cases) {
      const archive = await write([{ header }]);
      expect(String.fromCharCode(archive[FIELDS.typeflag[0]]!), header.path).toBe('x');
      expect((await read(archive))[0]!.header).toEqual(expected({ header }));
    }
  });

  it('stores a size of 8 GiB or more in a pax header', async () => {
    const size = 2 ** 33 + 5;
    const blocks = encodeHeader({
      path: 'huge', type: 'file', size, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtimeMs: 0,
      linkTarget: '', devMajor: 0, devMinor: 0, xattrs: new Map(),
    });
    expect(String.fromCharCode(blocks[FIELDS.typeflag[0]]!)).toBe('x');
    for await (const { header } of new TarReader(chunks(blocks, 512))) {
      expect(header).toMatchObject({ path: 'huge', size }); // the body is not there: stop at the header
      break;
    }
  });

  it('streams an empty archive as two zero blocks', async () => {
    const archive = await write([]);
    expect(archive.equals(END)).toBe(true);
    expect(await read(archive)).toEqual([]);
  });

  it('round-trips through gzip, which is detected from the first bytes even one byte at a time', async () => {
    const inputs: Input[] = [{ header: { path: 'a.txt', type: 'file' }, body: encoder.encode('hello') }];
    const writer = new TarWriter();
    const compressed = collect(gzip(writer));
    await writer.add(inputs[0]!.header, inputs[0]!.body);
    await writer.finish();
    const bytes = await compressed;
    expect(isGzip(bytes)).toBe(true);
    const entries = await read(maybeGunzip(chunks(bytes, 1)));
    expect(entries.map((entry) => entry.data.toString())).toEqual(['hello']);
    const raw = await write(inputs);
    expect((await collect(maybeGunzip(chunks(raw, 1)))).equals(raw)).toBe(true);
    expect(await collect(maybeGunzip(chunks(EMPTY, 1)))).toEqual(Buffer.alloc(0));
  });
});

describe('TarReader', () => {
  it('skips what the consumer leaves unread, and refuses a stale body', async () => {
    const archive = await write([
      { header: { path: 'a', type: 'file' }, body: new Uint8Array(5000).fill(1) },
      { header: { path: 'b', type: 'file' }, body: new Uint8Array(700).fill(2) },
      { header: { path: 'c', type: 'file' }, body: encoder.encode('c') },
    ]);
    const iterator = new TarReader(chunks(archive, 100))[Symbol.asyncIterator]();
    const a = (await iterator.next()).value!;
    const aBody = a.body[Symbol.asyncIterator]();
    expect((await aBody.next()).value).toEqual(Buffer.alloc(88, 1)); // the rest of the stream's chunk
    expect((await iterator.next()).value!.header.path).toBe('b'); // never read
    await expect(aBody.next()).rejects.toThrow(TypeError);
    const c = (await iterator.next()).value!;
    expect((await collect(c.body)).toString()).toBe('c');
    expect((await iterator.next()).done).toBe(true);
  });

  it('closes the stream, gzip or not, when the consumer stops early', async () => {
    const archive = concat(rawFile('a', 'x'), rawFile('b', 'y'), END);
    const gzipped = await collect(gzip(chunks(archive, 512)));
    for (const [bytes, detect] of [[archive, false], [archive, true], [gzipped, true]] as const) {
      const stream = new PassThrough();
      stream.write(bytes); // and never ended: only closing it stops it
      for await (const entry of new TarReader(detect ? maybeGunzip(stream) : stream)) {
        expect(entry.header.path).toBe('a');
        break;
      }
      expect(stream.destroyed).toBe(true);
    }
  });

  it('accepts EOF at an entry boundary, after one zero block, and ignores what follows two', async () => {
    const file = rawFile('a', 'data');
    for (const archive of [file, concat(file, new Uint8Array(BLOCK_SIZE)), concat(file, END, new Uint8Array(9216), rawFile('z'))]) {
      expect((await read(archive)).map((entry) => entry.header.path)).toEqual(['a']);
    }
  });

  it('reads v7 regular files and directories (typeflag NUL, no magic)', async () => {
    const v7 = (name: string, data: string): Uint8Array => {
      let block = rawHeader(name, '\0', data.length);
      block = withField(block, [FIELDS.typeflag[0], 1], new Uint8Array([0]));
      block = withField(block, [FIELDS.magic[0], BLOCK_SIZE - FIELDS.magic[0]], EMPTY);
      return concat(block, padded(data));
    };
    const entries = await read(concat(v7('old.txt', 'v7 data'), v7('dir/', ''), END));
    expect(entries.map(({ header }) => [header.path, header.type, header.typeflag, header.uname])).toEqual([
      ['old.txt', 'file', '\0', ''], ['dir/', 'directory', '\0', ''],
    ]);
    expect(entries[0]!.data.toString()).toBe('v7 data');
  });

  it('reads base-256 numbers', async () => {
    const base256 = (length: number, value: bigint): Uint8Array => {
      const out = new Uint8Array(length);
      for (let i = length - 1; i > 0; i--, value >>= 8n) out[i] = Number(value & 0xffn);
      out[0] = 0x80;
      return out;
    };
    let block = rawHeader('big', '0', 3);
    block = withField(block, FIELDS.uid, base256(8, 2n ** 40n));
    block = withField(block, FIELDS.size, base256(12, 3n));
    block = withField(block, FIELDS.mtime, new Uint8Array(12).fill(0xff)); // -1 in two's complement
    const [entry] = await read(concat(block, padded('abc'), END));
    expect(entry!.header).toMatchObject({ uid: 2 ** 40, size: 3, mtimeMs: -1000 });
    expect(entry!.data.toString()).toBe('abc');
  });

  it('accepts a checksum summed over signed bytes, as old tars wrote it', async () => {
    const block = withChecksum(rawHeader('naïve', '0', 0), true);
    expect((await read(concat(block, END)))[0]!.header.path).toBe('naïve');
  });

  it('applies GNU long names and links, pax over GNU over ustar', async () => {
    const long = `${'n'.repeat(200)}/file`;
    const target = 't'.repeat(300);
    const gnu = (typeflag: string, value: string): Uint8Array =>
      concat(rawHeader('././@LongLink', typeflag, value.length + 1), padded(`${value}\0`));
    const link = withField(rawHeader('short', '2'), FIELDS.linkname, 'short-target');
    const entries = await read(concat(
      gnu('L', long), gnu('K', target), link,
      gnu('L', 'gnu-name'), rawPax([['path', 'pax-name']]), rawFile('ustar-name', 'x'),
      END,
    ));
    expect(entries.map(({ header }) => [header.path, header.type, header.linkTarget])).toEqual([
      [long, 'symlink', target], ['pax-name', 'file', ''],
    ]);
  });

  it('applies global pax records to every later entry, and per-entry records over them', async () => {
    const entries = await read(concat(
      rawFile('before'),
      rawPax([['uname', 'global'], ['mtime', '1700000000.123456789'], ['SCHILY.xattr.user.a', new Uint8Array([0, 255])]], 'g'),
      rawFile('a'),
      rawPax([['uname', ''], ['uid', '7'], ['SCHILY.xattr.user.b', 'b']]),
      rawFile('b'),
      rawFile('c'),
      END,
    ));
    expect(entries.map(({ header }) => [header.path, header.uname, header.uid, header.mtimeMs, [...header.xattrs.keys()]])).toEqual([
      ['before', '', 0, 0, []],
      ['a', 'global', 0, 1700000000123, ['user.a']],
      ['b', '', 7, 1700000000123, ['user.a', 'user.b']],
      ['c', 'global', 0, 1700000000123, ['user.a']],
    ]);
    expect(entries[1]!.header.xattrs.get('user.a')).toEqual(new Uint8Array([0, 255]));
  });

  it('reports other typeflags as unsupported with their flag and body', async () => {
    const entries = await read(concat(rawHeader('label', 'V', 3), padded('vol'), rawFile('after', 'ok'), END));
    expect(entries.map(({ header, data }) => [header.path, header.type, header.typeflag, data.toString()])).toEqual([
      ['label', 'unsupported', 'V', 'vol'], ['after', 'file', '0', 'ok'],
    ]);
  });

  it('gives links, directories and devices no body whatever their size field says', async () => {
    const entries = await read(concat(rawHeader('d/', '5', 0), withField(rawHeader('l', '1'), FIELDS.linkname, 'd/'), END));
    expect(entries.map(({ header }) => [header.type, header.size])).toEqual([['directory', 0], ['hardlink', 0]]);
  });
});

describe('TarWriter', () => {
  it('resolves add() only once the consumer has taken the entry (backpressure)', async () => {
    const writer = new TarWriter();
    let added = false;
    const adding = writer.add({ path: 'a', type: 'file' }, new Uint8Array(10)).then(() => (added = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(added).toBe(false);
    const output = writer[Symbol.asyncIterator]();
    expect((await output.next()).value!.length).toBe(BLOCK_SIZE); // header
    expect((await output.next()).value!.length).toBe(10); // body
    expect((await output.next()).value!.length).toBe(BLOCK_SIZE - 10); // padding
    expect(added).toBe(false);
    const end = output.next();
    await adding;
    void writer.finish();
    expect((await end).value).toEqual(END);
    expect((await output.next()).done).toBe(true);
  });

  it('fails the archive when a streamed body is longer or shorter than its size', async () => {
    for (const [size, body] of [[3, 'four'], [5, 'four']] as const) {
      const writer = new TarWriter();
      const output = collect(writer);
      const adding = writer.add({ path: 'f', type: 'file', size }, chunks(encoder.encode(body), 2));
      await expect(adding).rejects.toMatchObject({ code: 'EINVAL', path: 'f' });
      await expect(output).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(writer.add({ path: 'g', type: 'file' })).rejects.toMatchObject({ code: 'EINVAL' });
      await expect(writer.finish()).rejects.toMatchObject({ code: 'EINVAL' });
    }
  });

  it('rejects pending entries with ABORT_ERR when the consumer stops', async () => {
    const writer = new TarWriter();
    const first = writer.add({ path: 'a', type: 'file' }, new Uint8Array(1));
    const second = writer.add({ path: 'b', type: 'file' }, new Uint8Array(1));
    const output = writer[Symbol.asyncIterator]();
    await output.next();
    await output.return!();
    await expect(first).rejects.toMatchObject({ code: 'ABORT_ERR' });
    await expect(second).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it('rejects wrong arguments with TypeError and unwritable values with EINVAL, staying usable', async () => {
    const writer = new TarWriter();
    const output = collect(writer);
    const typeErrors: Array<[TarWriterHeader, Uint8Array?]> = [
      [{ path: '', type: 'file' }],
      [{ path: 'a', type: 'socket' as TarWriterType }],
      [{ path: 'a', type: 'file', uid: -1 }],
      [{ path: 'a', type: 'file', mode: 1.5 }],
      [{ path: 'a', type: 'file', mtimeMs: Number.NaN }],
      [{ path: 'a', type: 'symlink' }],
      [{ path: 'a', type: 'file', linkTarget: 'b' }],
      [{ path: 'a', type: 'directory' }, new Uint8Array(1)],
      [{ path: 'a', type: 'file', size: 2 }, new Uint8Array(1)],
      [{ path: 'a', type: 'file', size: 2 }],
    ];
    for (const [header, body] of typeErrors) await expect(writer.add(header, body), JSON.stringify(header)).rejects.toThrow(TypeError);
    const invalid: TarWriterHeader[] = [
      { path: 'a\0b', type: 'file' },
      { path: 'lone \ud800 surrogate', type: 'file' },
      { path: 'a'.repeat(TAR_LIMITS.maxPathBytes + 1), type: 'file' },
      { path: 'l', type: 'symlink', linkTarget: 'x\0' },
      { path: 'a', type: 'file', uname: 'r\0t' },
      { path: 'a', type: 'file', xattrs: new Map([['a=b', EMPTY]]) },
      { path: 'a', type: 'char', devMajor: 0o10000000 },
      { path: 'a', type: 'file', xattrs: new Map([['big', new Uint8Array(TAR_LIMITS.maxPaxHeaderBytes)]]) },
    ];
    for (const header of invalid) await expect(writer.add(header), header.path).rejects.toMatchObject({ code: 'EINVAL' });
    await writer.add({ path: 'ok', type: 'file' });
    await writer.finish();
    expect((await read(await output)).map((entry) => entry.header.path)).toEqual(['ok']);
    await expect(writer.add({ path: 'late', type: 'file' })).rejects.toThrow(TypeError);
  });
});

// ---- hostile input: one test each, all EINVAL ------------------------------------------------

describe('TarReader on hostile input', () => {
  const rejects = async (archive: Uint8Array | AsyncIterable<Uint8Array>, detail: RegExp, options?: TarReaderOptions) => {
    const error = await read(archive, options).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'EINVAL', syscall: 'tar' });
    expect((error as Error).message).toMatch(detail);
    return error as Error & { path?: string };
  };

  it('any corruption of a valid archive reads, or rejects with EINVAL: never another error', async () => {
    const sample = fc.sample(fc.array(inputArb, { minLength: 1, maxLength: 4 }), { numRuns: 20, seed: 42 });
    const archives = await Promise.all(sample.map(write));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...archives),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        async (archive, edits, cut) => {
          const bytes = Uint8Array.from(archive);
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          // Redo the checksum of each block that was a header, so the corruption gets past it.
          for (let at = 0; at < bytes.length; at += BLOCK_SIZE) {
            const original = archive.subarray(at, at + BLOCK_SIZE);
            if (!original.every((byte) => byte === 0) && Buffer.from(withChecksum(original, false)).equals(original)) {
              bytes.set(withChecksum(bytes.subarray(at, at + BLOCK_SIZE), false), at);
            }
          }
          const input = cut === undefined ? bytes : bytes.subarray(0, cut % bytes.length);
          await read(input).catch((error: unknown) => expect(error).toMatchObject({ code: 'EINVAL' }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bad checksum', async () => {
    const block = rawHeader('a');
    block[0] ^= 1;
    await rejects(concat(block, END), /checksum/);
  });

  it('archive truncated inside a header', async () => {
    await rejects(concat(rawFile('a', 'x'), rawHeader('b').subarray(0, 300)), /truncated/);
  });

  it('archive truncated inside a body', async () => {
    const error = await rejects(concat(rawHeader('a', '0', 2000), new Uint8Array(1000)), /truncated/);
    expect(error.path).toBe('a');
  });

  it('archive truncated inside the padding of a body', async () => {
    await rejects(concat(rawHeader('a', '0', 10), new Uint8Array(100)), /truncated/);
  });

  it('a lone zero block followed by a header', async () => {
    await rejects(concat(rawFile('a'), new Uint8Array(BLOCK_SIZE), rawFile('b'), END), /lone zero block/);
  });

  it('a size field that is not a number', async () => {
    await rejects(concat(withField(rawHeader('a'), FIELDS.size, '12x4'), END), /size field is not a number/);
  });

  it('a negative size field (base-256)', async () => {
    await rejects(concat(withField(rawHeader('a'), FIELDS.size, new Uint8Array(12).fill(0xff)), END), /size field is out of range/);
  });

  it('a base-256 size past 2^53', async () => {
    const field = new Uint8Array(12);
    field[0] = 0x80;
    field[4] = 1;
    await rejects(concat(withField(rawHeader('a'), FIELDS.size, field), END), /out of range/);
  });

  it('a pax size that is negative', async () => {
    await rejects(concat(rawPax([['size', '-5']]), rawFile('a'), END), /pax size/);
  });

  it('a NUL inside a pax path', async () => {
    await rejects(concat(rawPax([['path', 'a\0b']]), rawFile('a'), END), /path contains a NUL/);
  });

  it('a NUL inside a pax linkpath', async () => {
    const link = withField(rawHeader('l', '2'), FIELDS.linkname, 't');
    const error = await rejects(concat(rawPax([['linkpath', '../\0etc']]), link, END), /link target contains a NUL/);
    expect(error.path).toBe('l');
  });

  it('a pax record whose length is longer than the record', async () => {
    const data = encoder.encode('30 path=abc\n');
    await rejects(concat(rawHeader('p', 'x', data.length), padded(data), rawFile('a'), END), /pax record length/);
  });

  it('a pax record whose length is shorter than the record', async () => {
    const data = encoder.encode('9 path=abc\n');
    await rejects(concat(rawHeader('p', 'x', data.length), padded(data), rawFile('a'), END), /pax record length/);
  });

  it('a pax record whose length is not a number', async () => {
    const data = encoder.encode('x1 path=abc\n');
    await rejects(concat(rawHeader('p', 'x', data.length), padded(data), rawFile('a'), END), /pax record length/);
  });

  it('a pax record without a key', async () => {
    const data = encoder.encode('8 =abcd\n');
    await rejects(concat(rawHeader('p', 'x', data.length), padded(data), rawFile('a'), END), /no key/);
  });

  it('a pax header larger than the limit, refused before it is read', async () => {
    await rejects(concat(rawHeader('p', 'x', TAR_LIMITS.maxPaxHeaderBytes + 1), END), /pax headers? (is larger|exceed)/);
  });

  it('global pax records that add up past the limit', async () => {
    const half = 'v'.repeat(TAR_LIMITS.maxPaxHeaderBytes / 2);
    await rejects(concat(rawPax([['a', half]], 'g'), rawPax([['b', half]], 'g'), rawFile('a'), END), /global pax records exceed/);
  });

  it('several pax headers for one entry that add up past the limit', async () => {
    const half = 'v'.repeat(TAR_LIMITS.maxPaxHeaderBytes / 2);
    await rejects(concat(rawPax([['a', half]]), rawPax([['b', half]]), rawFile('a'), END), /pax headers exceed/);
  });

  it('a GNU long name larger than the limit, refused before it is read', async () => {
    await rejects(concat(rawHeader('././@LongLink', 'L', TAR_LIMITS.maxLongNameBytes + 1), END), /long name is larger/);
  });

  it('a path longer than the limit', async () => {
    await rejects(concat(rawPax([['path', 'a'.repeat(TAR_LIMITS.maxPathBytes + 1)]]), rawFile('a'), END), /path is longer/);
  });

  it('a path deeper than the limit', async () => {
    await rejects(concat(rawPax([['path', 'a/'.repeat(TAR_LIMITS.maxPathDepth + 1)]]), rawFile('a'), END), /path has more than/);
  });

  it('a path that is not UTF-8', async () => {
    await rejects(concat(withField(rawHeader('a'), FIELDS.name, new Uint8Array([0x61, 0xff])), END), /UTF-8/);
  });

  it('an extension header not followed by an entry', async () => {
    await rejects(concat(rawPax([['path', 'p']]), END), /not followed by an entry/);
    await rejects(rawPax([['path', 'p']]), /truncated/);
  });

  it('more entries than maxEntries', async () => {
    const error = await rejects(concat(rawFile('a'), rawFile('b'), rawFile('c'), END), /maxEntries/, { maxEntries: 2 });
    expect(error.path).toBe('c');
  });

  it('more bytes than maxBytes: a gzip bomb stops early, memory bounded', async () => {
    const bomb = async function* (): AsyncGenerator<Uint8Array> {
      const writer = new TarWriter();
      const zeros = async function* (): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < 256; i++) yield new Uint8Array(1 << 20);
      };
      void writer.add({ path: 'bomb', type: 'file', size: 256 << 20 }, zeros());
      void writer.finish();
      yield* gzip(writer, 1);
    };
    const compressed = await collect(bomb());
    expect(compressed.length).toBeLessThan(2 << 20);
    await rejects(maybeGunzip(chunks(compressed, 65536)), /maxBytes/, { maxBytes: 16 << 20 });
  });

  it('a corrupt gzip stream', async () => {
    const good = await collect(gzip(chunks(concat(rawFile('a', 'x'.repeat(5000)), END), 1000)));
    const bad = Buffer.from(good);
    bad[bad.length - 6] ^= 0xff; // the CRC
    await rejects(maybeGunzip(chunks(bad, 100)), /corrupt gzip/);
    await rejects(maybeGunzip(chunks(good.subarray(0, good.length - 10), 100)), /corrupt gzip|truncated/);
  });
});
