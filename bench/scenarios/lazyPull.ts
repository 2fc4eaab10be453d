import { spawn, spawnSync } from 'node:child_process';
import { DEFAULT_BLOCK_SIZE, type FileHandle, type Layer, type Store } from '../../src/index.js';
import { distinctData } from '../harness/data.js';
import { formatBytes, formatMs, type FigureInput } from '../harness/figures.js';
import { hashBlocks } from '../harness/limits.js';
import { measure, type Case, type Measured } from '../harness/measure.js';
import { startProxy, type ProxiedRequest } from '../harness/proxy.js';
import { registryUnavailable, startRegistry } from '../../src/cli/localRegistry.js';
import type { Scenario, ScenarioContext } from '../harness/scenario.js';
import { KiB, MiB, sizeName } from '../harness/settings.js';
import { commitFile, StoreUnderTest } from '../harness/stores.js';
import { limitCase } from './limits.js';

/** The image's one file: 256 MiB in a full run, 16 MiB in a quick one. */
const FILE_BYTES = 256 * MiB;
const QUICK_FILE_BYTES = 16 * MiB;
const FILE = '/data.bin';
const REPOSITORY = 'bench/lazy';
/** The container-start read: 1 MiB, 4 KiB past the middle of the file, so it spans 17 blocks of 64 KiB as an unaligned read does. */
const FIRST_READ = MiB;
const firstReadAt = (bytes: number): number => bytes / 2 + 4 * KiB;
/** How many blocks of the default size `[at, at + length)` overlaps. */
const blocksSpanned = (at: number, length: number): number => Math.ceil((at + length) / DEFAULT_BLOCK_SIZE) - Math.floor(at / DEFAULT_BLOCK_SIZE);
/** `FileHandle.read` size of the sequential reads. */
const CHUNK = MiB;

/** Goals: a lazy pull, and a lazy pull and a first read, within this share of the full pull's time. */
const TIME_GOAL = 0.1;
/** Bytes transferred by a lazy pull alone, and by a lazy pull and the first read, as a share of a full pull's. */
const PULL_BYTES_GOAL = 0.01;
const FIRST_READ_BYTES_GOAL = 0.02;
/** A lazy pull read to the end transfers at most this many times what a full pull does. */
const WHOLE_READ_BYTES_GOAL = 1.02;
/** A cold sequential read (every block fetched) at this share of a plain loopback download of the blob at least. */
const COLD_READ_GOAL = 0.5;

const name = {
  lazyPull: 'lazy pull: time to a mountable image',
  fullPull: 'full pull: time to a mountable image',
  lazyFirst: `lazy pull + ${sizeName(FIRST_READ)} read at the middle: time to first read`,
  fullFirst: `full pull + ${sizeName(FIRST_READ)} read at the middle: time to first read`,
  cold: (bytes: number) => `sequential read of ${sizeName(bytes)} after a lazy pull (cold: every block fetched)`,
  warm: (bytes: number) => `sequential read of ${sizeName(bytes)} after a full pull (warm, local)`,
  firstReadAlone: `first ${sizeName(FIRST_READ)} read at the middle after a lazy pull (the read alone, cold)`,
  oneRange: `one ${sizeName(FIRST_READ)} range GET of the blob at the same offset (fetch)`,
  coldReadFile: (bytes: number) => `readFile of ${sizeName(bytes)} after a lazy pull (cold: every block requested at once)`,
  get: 'loopback HTTP GET of the layer blob (fetch, body discarded)',
  getBesidePulls: 'loopback HTTP GET of the layer blob, beside the pulls',
  ranges: `loopback HTTP GETs of the blob in ${sizeName(CHUNK)} ranges, one at a time (fetch)`,
  curl: 'loopback HTTP GET of the layer blob by curl (outside node)',
};

/**
 * A lazy pull through a real registry (Debian's `docker-registry` on loopback) against a full
 * pull of the same image: one file of non-repeating data, pushed with `lazy` (an uncompressed
 * layer and its block index) from a memory store, pulled into a fresh disk store with default
 * options each time (opened primed, so the hash workers have started before anything is timed).
 *
 * - time to a mountable image: `pull(ref, { lazy: true })` against `pull(ref)`, with a loopback
 *   download of the layer blob in the same rounds;
 * - time to first read, the container-start case: the pull, `prepare` a container, open the
 *   file, read 1 MiB from its middle; and that read alone, against one range request of it;
 * - reads of the whole file after a lazy pull (cold: every block is fetched by range request as
 *   it is first read), by 1 MiB handle reads and by one `readFile`, and by 1 MiB reads after a
 *   full pull (warm: local blocks), interleaved with the machine's limits for them: a loopback
 *   download of the whole layer blob with node's `fetch` (the registry client's transport) and
 *   with curl, the blob in 1 MiB range requests one at a time (what a reader that waits for each
 *   range gets at best), and SHA-256 on one thread (a cold block is hashed once, in the hash
 *   pool, to check it against its id);
 * - body bytes and requests transferred by each pass, counted untimed in separate passes through
 *   a loopback proxy (bench/harness/proxy.ts), so the timed pulls talk to the registry directly.
 *
 * Where `docker-registry` is missing, prints a `skipped:` line and records no figure.
 */
export const lazyPull: Scenario = {
  name: 'lazy-pull',
  title: 'Lazy pull through a registry: time to first read, cold reads, bytes transferred',
  async run(context: ScenarioContext): Promise<void> {
    const unavailable = registryUnavailable();
    if (unavailable !== undefined) {
      process.stdout.write(`skipped: ${unavailable}\n`);
      context.facts['skipped'] = unavailable;
      return;
    }
    const { settings } = context;
    const bytes = settings.quick ? QUICK_FILE_BYTES : FILE_BYTES;
    const registry = await startRegistry({ tmp: context.scratch.dir('registry') });
    try {
      const ref = `${registry.host}/${REPOSITORY}:v1`;
      const blob = await publish(context, ref, bytes);
      context.facts['image'] = { file: bytes, layerBlob: blob.size, blockSize: DEFAULT_BLOCK_SIZE, firstReadAt: firstReadAt(bytes) };
      const transfers = await countTransfers(context, registry.host, bytes);
      const pulls = await measurePulls(context, ref, bytes, blob);
      for (const [caseName, m] of await measureFirstRead(context, ref, bytes, blob)) pulls.set(caseName, m);
      const reads = await measureReads(context, ref, bytes, blob);
      report(context, { bytes, blob, pulls, reads, transfers });
    } finally {
      await registry.stop();
    }
  },
};

interface Blob {
  readonly url: string;
  readonly size: number;
}

/** Commits the file in a memory store, pushes it with `lazy`, and resolves to its layer blob's URL and size. */
async function publish(context: ScenarioContext, ref: string, bytes: number): Promise<Blob> {
  const source = await StoreUnderTest.open('memory', {}, context.scratch);
  try {
    await commitFile(source.store, 'image', undefined, FILE, distinctData(bytes, context.settings.seed));
    const { digest } = await source.store.push('image', ref, { lazy: true });
    const base = `http://${ref.slice(0, ref.indexOf('/'))}/v2/${REPOSITORY}`;
    const response = await fetch(`${base}/manifests/${digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    const manifest = (await response.json()) as { layers: Array<{ digest: string; size: number }> };
    if (manifest.layers.length !== 1) throw new Error(`expected an image of one layer, got ${manifest.layers.length}`);
    const [layer] = manifest.layers;
    return { url: `${base}/blobs/${layer!.digest}`, size: layer!.size };
  } finally {
    await source.close();
  }
}

/**
 * Downloads the blob at `url` (or `length` bytes of it from `start`) with node's `fetch`, the
 * registry client's transport, and drops the body: the loopback limit of any pull. Resolves to
 * the bytes received.
 */
async function download(url: string, start?: number, length?: number): Promise<number> {
  const response = await fetch(url, start === undefined ? {} : { headers: { range: `bytes=${start}-${start + length! - 1}` } });
  if (!response.ok || response.body === null) throw new Error(`GET ${url}: ${response.status}`);
  let received = 0;
  for await (const chunk of response.body) received += (chunk as Uint8Array).byteLength;
  return received;
}

/** The blob in `CHUNK` ranges, each requested when the one before has arrived: what a reader that waits for every block it reads gets at best. */
async function downloadInRanges(blob: Blob): Promise<void> {
  for (let at = 0; at < blob.size; at += CHUNK) await download(blob.url, at, Math.min(CHUNK, blob.size - at));
}

const hasCurl = (): boolean => spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;

/** The same download by curl, a separate process: the loopback limit without node's HTTP stack. */
function curl(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['--silent', '--fail', '--output', '/dev/null', url], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl ${url} exited with ${code}`))));
  });
}

/** A fresh, primed disk store with default options, made before each call and removed after it. */
function freshStore(context: ScenarioContext): { readonly store: () => Store; open(): Promise<void>; close(): Promise<void> } {
  let target: StoreUnderTest | undefined;
  return {
    store: () => target!.store,
    open: async () => {
      target = await StoreUnderTest.open('disk', {}, context.scratch, true);
    },
    close: async () => {
      await target?.close();
      target = undefined;
    },
  };
}

let containers = 0;

/** `prepare`s a container on `key` and opens the file in it, read-only. */
async function openInContainer(store: Store, key: string): Promise<FileHandle> {
  const container = await store.prepare(`container-${++containers}`, key);
  return container.open(FILE, 'r');
}

/** Reads the file to the end through `handle`, 1 MiB at a time, into `into`. */
async function readAll(handle: FileHandle, bytes: number, into: Buffer): Promise<void> {
  for (let at = 0; at < bytes; at += CHUNK) await handle.read(into, 0, Math.min(CHUNK, bytes - at), at);
}

/** The container-start case: a container on `key`, and 1 MiB read from the middle of the file. */
async function firstRead(store: Store, key: string, bytes: number, into: Buffer): Promise<void> {
  const handle = await openInContainer(store, key);
  await handle.read(into, 0, FIRST_READ, firstReadAt(bytes));
  await handle.close();
}

/** Pull times, with and without the first read, lazy and full, interleaved; a fresh store per call. */
async function measurePulls(context: ScenarioContext, ref: string, bytes: number, blob: Blob): Promise<Map<string, Measured>> {
  const { settings } = context;
  const into = Buffer.alloc(FIRST_READ, 1);
  const pullCase = (caseName: string, lazy: boolean, read: boolean): Case => {
    const target = freshStore(context);
    return {
      name: caseName,
      beforeEach: target.open,
      run: async () => {
        const top = await target.store().pull(ref, { lazy });
        if (read) await firstRead(target.store(), top.key, bytes, into);
      },
      afterEach: target.close,
      ...(lazy ? {} : { bytes: blob.size }),
    };
  };
  const cases = [
    pullCase(name.lazyPull, true, false),
    pullCase(name.fullPull, false, false),
    pullCase(name.lazyFirst, true, true),
    pullCase(name.fullFirst, false, true),
    { name: name.getBesidePulls, run: () => download(blob.url), bytes: blob.size },
  ];
  return context.keep(await measure(cases, { seed: settings.seed, rounds: settings.quick ? 1 : 4, iterations: 1, warmup: 1, collect: 'call' }));
}

/**
 * The first read alone, without the pull around it (a pull's own time varies by ±50 ms here,
 * more than the read takes), against one range request of the same bytes: many short rounds.
 */
async function measureFirstRead(context: ScenarioContext, ref: string, bytes: number, blob: Blob): Promise<Map<string, Measured>> {
  const { settings } = context;
  const into = Buffer.alloc(FIRST_READ, 1);
  const target = freshStore(context);
  let handle: FileHandle | undefined;
  const cases: Case[] = [
    {
      name: name.firstReadAlone,
      beforeEach: async () => {
        await target.open();
        handle = await openInContainer(target.store(), (await target.store().pull(ref, { lazy: true })).key);
      },
      run: () => handle!.read(into, 0, FIRST_READ, firstReadAt(bytes)),
      afterEach: async () => {
        await handle!.close();
        await target.close();
      },
    },
    { name: name.oneRange, run: () => download(blob.url, firstReadAt(bytes), FIRST_READ) },
  ];
  return context.keep(await measure(cases, { seed: settings.seed + 2, rounds: settings.quick ? 2 : 15, iterations: 1, warmup: 1, collect: 'case' }));
}

/** Sequential reads, cold after a lazy pull (a fresh store per call) and warm after a full pull, with the limits. */
async function measureReads(context: ScenarioContext, ref: string, bytes: number, blob: Blob): Promise<Map<string, Measured>> {
  const { settings } = context;
  const into = Buffer.alloc(CHUNK, 1);
  const cold = freshStore(context);
  let coldHandle: FileHandle | undefined;
  const coldWhole = freshStore(context);
  let coldLayer: Layer | undefined;
  let warm: { target: StoreUnderTest; handle: FileHandle } | undefined;
  const hashed = distinctData(settings.limitBytes, settings.seed + 1);
  const cases: Case[] = [
    {
      name: name.cold(bytes),
      beforeEach: async () => {
        await cold.open();
        coldHandle = await openInContainer(cold.store(), (await cold.store().pull(ref, { lazy: true })).key);
      },
      run: () => readAll(coldHandle!, bytes, into),
      afterEach: async () => {
        await coldHandle!.close();
        await cold.close();
      },
      bytes,
    },
    {
      name: name.warm(bytes),
      setup: async () => {
        if (warm !== undefined) return;
        const target = await StoreUnderTest.open('disk', {}, context.scratch, true);
        warm = { target, handle: await openInContainer(target.store, (await target.store.pull(ref)).key) };
      },
      run: () => readAll(warm!.handle, bytes, into),
      bytes,
    },
    {
      name: name.coldReadFile(bytes),
      beforeEach: async () => {
        await coldWhole.open();
        coldLayer = await coldWhole.store().prepare(`container-${++containers}`, (await coldWhole.store().pull(ref, { lazy: true })).key);
      },
      run: () => coldLayer!.readFile(FILE),
      afterEach: coldWhole.close,
      bytes,
    },
    { name: name.get, run: () => download(blob.url), bytes: blob.size },
    { name: name.ranges, run: () => downloadInRanges(blob), bytes: blob.size },
    ...(hasCurl() ? [{ name: name.curl, run: () => curl(blob.url), bytes: blob.size }] : []),
    { name: limitCase.hash1(DEFAULT_BLOCK_SIZE), run: async () => hashBlocks(hashed, DEFAULT_BLOCK_SIZE), bytes: settings.limitBytes },
  ];
  try {
    return context.keep(await measure(cases, { seed: settings.seed + 1, rounds: settings.quick ? 1 : 4, iterations: 1, warmup: 1, collect: 'call' }));
  } finally {
    await warm?.handle.close();
    await warm?.target.close();
  }
}

/** What one untimed pass sent over the wire: response and request body bytes, and requests (range requests apart). */
interface Transfer {
  readonly bytes: number;
  readonly requests: number;
  readonly ranges: number;
}

interface Transfers {
  readonly lazyPull: Transfer;
  readonly lazyFirst: Transfer;
  readonly lazyWhole: Transfer;
  readonly fullPull: Transfer;
}

/** Each pass once through a counting proxy in front of the registry, into a fresh store. */
async function countTransfers(context: ScenarioContext, registryHost: string, bytes: number): Promise<Transfers> {
  const proxy = await startProxy(registryHost);
  const ref = `${proxy.host}/${REPOSITORY}:v1`;
  const into = Buffer.alloc(CHUNK, 1);
  const pass = async (task: (store: Store) => Promise<void>): Promise<Transfer> => {
    const target = freshStore(context);
    await target.open();
    proxy.requests.length = 0;
    try {
      await task(target.store());
      return total(proxy.requests);
    } finally {
      await target.close();
    }
  };
  try {
    return {
      lazyPull: await pass(async (store) => void (await store.pull(ref, { lazy: true }))),
      lazyFirst: await pass(async (store) => firstRead(store, (await store.pull(ref, { lazy: true })).key, bytes, into)),
      lazyWhole: await pass(async (store) => {
        const handle = await openInContainer(store, (await store.pull(ref, { lazy: true })).key);
        await readAll(handle, bytes, into);
        await handle.close();
      }),
      fullPull: await pass(async (store) => void (await store.pull(ref))),
    };
  } finally {
    await proxy.stop();
  }
}

function total(requests: readonly ProxiedRequest[]): Transfer {
  return {
    bytes: requests.reduce((sum, request) => sum + request.bytesIn + request.bytesOut, 0),
    requests: requests.length,
    ranges: requests.filter((request) => request.range !== undefined).length,
  };
}

interface Results {
  readonly bytes: number;
  readonly blob: Blob;
  readonly pulls: Map<string, Measured>;
  readonly reads: Map<string, Measured>;
  readonly transfers: Transfers;
}

function report(context: ScenarioContext, r: Results): void {
  const { pulls, reads, transfers } = r;
  const lazy = pulls.get(name.lazyPull)!;
  const full = pulls.get(name.fullPull)!;
  const lazyFirst = pulls.get(name.lazyFirst)!;
  const fullFirst = pulls.get(name.fullFirst)!;
  const getDuringPulls = pulls.get(name.getBesidePulls)!;
  const mib = (bytesPerSecond: number): string => `${(bytesPerSecond / MiB).toFixed(0)} MiB/s`;

  context.figure({
    name: lazy.name, value: lazy.medianMs, unit: 'ms', p99: lazy.p99Ms, samples: lazy.samples,
    ratio: lazy.medianMs / full.medianMs, reference: `full pull (${formatMs(full.medianMs)})`,
    goal: { op: '<=', target: TIME_GOAL }, headline: true, note: 'manifest, config and block index fetched; snapshots made from the index',
  }, lazy.error);
  context.figure({
    name: full.name, value: full.medianMs, unit: 'ms', p99: full.p99Ms, samples: full.samples,
    ratio: full.medianMs / getDuringPulls.medianMs, reference: `loopback GET of the blob (${formatMs(getDuringPulls.medianMs)})`,
    note: `${formatBytes(r.blob.size)} blob, uncompressed (pushed with lazy): fetched, checked, hashed into blocks, stored; ${mib(full.throughput!)}`,
  }, full.error);
  context.figure({
    name: lazyFirst.name, value: lazyFirst.medianMs, unit: 'ms', p99: lazyFirst.p99Ms, samples: lazyFirst.samples,
    ratio: lazyFirst.medianMs / fullFirst.medianMs, reference: `full pull + the same read (${formatMs(fullFirst.medianMs)})`,
    goal: { op: '<=', target: TIME_GOAL }, headline: true, note: 'pull, prepare a container, open, read 1 MiB at the middle of the file: the container-start case',
  }, lazyFirst.error);
  context.figure({
    name: fullFirst.name, value: fullFirst.medianMs, unit: 'ms', p99: fullFirst.p99Ms, samples: fullFirst.samples,
    ratio: fullFirst.medianMs / full.medianMs, reference: `full pull alone (${formatMs(full.medianMs)})`,
  }, fullFirst.error);
  const speedup = fullFirst.medianMs / lazyFirst.medianMs;
  context.figure({
    name: 'time to first read: speedup of a lazy pull over a full pull', value: speedup, unit: 'x',
    ratio: speedup, reference: `full ${formatMs(fullFirst.medianMs)} / lazy ${formatMs(lazyFirst.medianMs)}`,
  }, lazyFirst.error ?? fullFirst.error);
  const alone = pulls.get(name.firstReadAlone)!;
  const oneRange = pulls.get(name.oneRange)!;
  context.figure({
    name: alone.name, value: alone.medianMs, unit: 'ms', p99: alone.p99Ms, samples: alone.samples,
    ratio: alone.medianMs / oneRange.medianMs, reference: `one range GET of the same bytes (${formatMs(oneRange.medianMs)})`,
    note: `${blocksSpanned(firstReadAt(r.bytes), FIRST_READ)} blocks in one range request, each checked against its id, stored, copied out`,
  }, alone.error);

  const cold = reads.get(name.cold(r.bytes))!;
  const coldWhole = reads.get(name.coldReadFile(r.bytes))!;
  const warm = reads.get(name.warm(r.bytes))!;
  const get = reads.get(name.get)!;
  const ranges = reads.get(name.ranges)!;
  const byCurl = reads.get(name.curl);
  const hash = reads.get(limitCase.hash1(DEFAULT_BLOCK_SIZE))!;
  const getRef = `loopback GET of the blob (${mib(get.throughput!)})`;
  const throughput = (m: Measured, ratio: number, reference: string, extra: Partial<FigureInput> = {}): void => {
    context.figure({ name: m.name, value: m.throughput!, unit: 'B/s', samples: m.samples, ratio, reference, ...extra }, m.error);
  };
  throughput(cold, cold.throughput! / get.throughput!, getRef, {
    goal: { op: '>=', target: COLD_READ_GOAL }, headline: true,
    note: `1 MiB reads into a reused buffer; ${transfers.lazyWhole.ranges} range requests for ${r.bytes / DEFAULT_BLOCK_SIZE} blocks`,
  });
  context.figure({
    name: `${cold.name}: against ranges one at a time`, value: cold.throughput!, unit: 'B/s', samples: cold.samples,
    ratio: cold.throughput! / ranges.throughput!, reference: `${sizeName(CHUNK)} range GETs, one at a time (${mib(ranges.throughput!)})`,
    note: 'each read waits for its own range request (no read-ahead): the request round trip bounds it',
  }, cold.error);
  throughput(coldWhole, coldWhole.throughput! / get.throughput!, getRef, { note: 'one call: its blocks go to the source together, in 16 MiB calls, 64 MiB in flight' });
  throughput(warm, warm.throughput! / get.throughput!, getRef, { note: `cold against warm: ${(cold.throughput! / warm.throughput!).toFixed(2)}` });
  throughput(get, get.throughput! / hash.throughput!, `SHA-256, 1 thread, 64 KiB blocks (${mib(hash.throughput!)})`, {
    note: 'the limit of any pull over loopback with node fetch (the registry client\'s transport), in the same rounds as the reads',
  });
  throughput(ranges, ranges.throughput! / get.throughput!, getRef, { note: 'the bound of a reader that waits for every range it asks for' });
  if (byCurl !== undefined) throughput(byCurl, byCurl.throughput! / get.throughput!, `node fetch (${mib(get.throughput!)})`, { note: 'the loopback limit without node\'s HTTP stack (a process spawn included)' });
  throughput(hash, hash.throughput! / get.throughput!, getRef, {
    note: 'a cold block is hashed once, in the hash pool: checked against its id, then stored under it',
  });

  const image = transfers.fullPull.bytes;
  const imageRef = `full pull (${formatBytes(image)})`;
  context.figure({
    name: 'bytes transferred: lazy pull', value: transfers.lazyPull.bytes, unit: 'B',
    ratio: transfers.lazyPull.bytes / image, reference: imageRef, goal: { op: '<=', target: PULL_BYTES_GOAL },
    note: `${transfers.lazyPull.requests} requests: manifest, config, and the block index blob each layer's descriptor names (no referrers lookup)`,
  });
  context.figure({
    name: `bytes transferred: lazy pull + ${sizeName(FIRST_READ)} read`, value: transfers.lazyFirst.bytes, unit: 'B',
    ratio: transfers.lazyFirst.bytes / image, reference: imageRef, goal: { op: '<=', target: FIRST_READ_BYTES_GOAL }, headline: true,
    note: `${transfers.lazyFirst.ranges} range request(s) for the ${blocksSpanned(firstReadAt(r.bytes), FIRST_READ)} blocks the read spans`,
  });
  context.figure({
    name: `bytes transferred: lazy pull + sequential read of ${sizeName(r.bytes)}`, value: transfers.lazyWhole.bytes, unit: 'B',
    ratio: transfers.lazyWhole.bytes / image, reference: imageRef, goal: { op: '<=', target: WHOLE_READ_BYTES_GOAL },
    note: `${transfers.lazyWhole.requests} requests, ${transfers.lazyWhole.ranges} of them range requests`,
  });
  context.figure({
    name: 'bytes transferred: full pull', value: image, unit: 'B',
    ratio: image / r.blob.size, reference: `the layer blob (${formatBytes(r.blob.size)})`,
    note: `${transfers.fullPull.requests} requests`,
  });
  context.figure({
    name: `range requests: sequential read of ${sizeName(r.bytes)} after a lazy pull`, value: transfers.lazyWhole.ranges, unit: 'count',
    ratio: transfers.lazyWhole.ranges / (r.bytes / CHUNK), reference: `${sizeName(CHUNK)} reads (${r.bytes / CHUNK})`,
    note: `neighbouring blocks of one read in one request; ${r.bytes / DEFAULT_BLOCK_SIZE} blocks`,
  });
  context.facts['transfers'] = transfers;
}
