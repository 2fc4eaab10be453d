// Run by BlockIndex.test.ts as `node --expose-gc memoryProbe.mjs <BlockIndex.js> <count>`: inserts
// `count` random ids, then looks up every tenth, and prints what the index costs as one JSON line: its
// own typed-array accounting and the growth of the process's heap and array buffers, measured
// after full collections so that only what the index holds remains.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const { BlockIndex } = await import(pathToFileURL(process.argv[2]).href);
const count = Number(process.argv[3]);
const raw = randomBytes(32 * count);
const idAt = (i) => raw.toString('hex', 32 * i, 32 * i + 32);
const held = () => {
  globalThis.gc();
  globalThis.gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
};

const before = held();
let started = performance.now();
const index = new BlockIndex();
for (let i = 0; i < count; i++) index.set(idAt(i), { pack: i >>> 12, offset: (i & 4095) * 4096, length: 4096, kind: i % 8 === 0 ? 'node' : 'block' });
const insertMs = performance.now() - started;
started = performance.now();
let found = 0;
for (let i = 0; i < count; i += 10) if (index.get(idAt(i)) !== undefined) found++;
const lookupMs = performance.now() - started;
const heapBytes = held() - before;
console.log(JSON.stringify({ size: index.size, found, memoryBytes: index.memoryBytes(), heapBytes, insertMs, lookupMs }));
