import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { TarReader, TarWriter } from '../../src/image/tar/index.js';

const MiB = 1 << 20;

it('streams a 512 MiB entry from writer to reader without holding it in memory', async () => {
  const size = 512 * MiB + 123; // not a multiple of 512: the padding is exercised too
  const pattern = randomBytes(MiB);
  const written = createHash('sha256');
  /** Made lazily, a fresh buffer per MiB, as a file read would. */
  async function* lazyBody(): AsyncGenerator<Uint8Array> {
    for (let offset = 0, i = 0; offset < size; offset += MiB, i++) {
      const chunk = Buffer.from(pattern.subarray(0, Math.min(MiB, size - offset)));
      chunk.writeUInt32LE(i, 0);
      written.update(chunk);
      yield chunk;
    }
  }

  const writer = new TarWriter();
  const producing = (async () => {
    await writer.add({ path: 'before', type: 'file' }, Buffer.from('a'));
    await writer.add({ path: 'huge.bin', type: 'file', size, mode: 0o4755 }, lazyBody());
    await writer.add({ path: 'after', type: 'file' }, Buffer.from('z'));
    await writer.finish();
  })();

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const seen: Array<[string, number, string]> = [];
  for await (const { header, body } of new TarReader(Readable.from(writer, { objectMode: false }))) {
    const hash = createHash('sha256');
    let chunks = 0;
    for await (const chunk of body) {
      hash.update(chunk);
      if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    seen.push([header.path, header.size, hash.digest('hex')]);
  }
  await producing;

  expect(seen.map(([path, length]) => [path, length])).toEqual([['before', 1], ['huge.bin', size], ['after', 1]]);
  expect(seen[1]![2]).toBe(written.digest('hex'));
  expect((peak - baseline) / MiB).toBeLessThan(200);
});
