import type { BlockId } from '../core/BlockId.js';
import { fsError } from '../core/errors.js';
import { parseDigest, type Digest } from '../image/digest.js';
import type { BlockSource, SourceRecord } from '../store/BlockSource.js';
import { BlockIndex, type BlockRange } from './BlockIndex.js';
import { formatReference, parseReference, type Reference } from './Reference.js';
import { RegistryClient } from './RegistryClient.js';
import type { Credentials } from './RegistryOptions.js';

/** `SourceRecord.kind` of a registry source. */
export const REGISTRY_SOURCE = 'registry';
const SYSCALL = 'read';
/** The longest range one request reads: 16 MiB (a registry answers 4 MiB ranges at ~0.4 of a whole-blob download here, 16 MiB at ~0.6). */
const MAX_RUN_BYTES = 16 << 20;
/** Range requests one `fetch` keeps in flight at most. */
const MAX_RUNS_IN_FLIGHT = 4;

/** What a durable store keeps of a registry source (`SourceRecord.spec`); its blobs are the encoded indexes, in layer order. */
interface RegistrySpec {
  /** `host[:port]/repository@digest` of the image manifest. */
  readonly image: string;
  readonly insecure: boolean;
}

/**
 * A `BlockSource` over the layers of one image in a registry, pushed with `lazy`: blocks are
 * fetched by range requests into the first layer whose block index has them (neighbours in one
 * request); the store checks each against its id. Its record names the image by digest and holds the indexes,
 * never credentials: a store opened again makes it with the credentials it is opened with.
 */
export class RegistryBlockSource implements BlockSource {
  readonly record: SourceRecord;
  readonly #client: RegistryClient;
  readonly #indexes: readonly BlockIndex[];

  /** `reference` names the repository; `image` is the manifest's digest. */
  constructor(reference: Reference, image: Digest, indexes: readonly BlockIndex[], options: { insecure?: boolean; auth?: Credentials }) {
    const pinned: Reference = { ...reference, tag: undefined, digest: image };
    const spec: RegistrySpec = { image: formatReference(pinned), insecure: options.insecure === true };
    const blockSize = indexes[0]?.blockSize ?? 0;
    this.record = { kind: REGISTRY_SOURCE, name: `${REGISTRY_SOURCE}:${spec.image}:${blockSize}`, spec, blobs: indexes.map((index) => index.encode()) };
    const { insecure, auth } = options;
    this.#client = new RegistryClient(pinned, { ...(insecure === undefined ? {} : { insecure }), ...(auth === undefined ? {} : { auth }) }, SYSCALL, 'pull');
    this.#indexes = indexes;
  }

  covers(id: BlockId): boolean {
    return this.#indexes.some((index) => index.locate(id) !== undefined);
  }

  /**
   * Locates each id in the first index that has it, sorts them by layer and offset, joins blocks
   * that lie side by side in the blob into runs of at most `MAX_RUN_BYTES`, and fetches each run
   * with one range request (`MAX_RUNS_IN_FLIGHT` at a time). Ids no index has are left out.
   */
  async fetch(ids: readonly BlockId[]): Promise<Map<BlockId, Uint8Array>> {
    const found = new Map<BlockId, Uint8Array>();
    const runs = this.#runs(ids);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const run = runs[next++]!;
        const blocks = await this.#client.readRange(run.layer, run.blocks[0]!.range.offset, run.blocks.map((block) => block.range.length));
        run.blocks.forEach((block, i) => found.set(block.id, blocks[i]!));
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_RUNS_IN_FLIGHT, runs.length) }, worker));
    return found;
  }

  /** The ranges to read for `ids`: per layer, neighbours joined. */
  #runs(ids: readonly BlockId[]): Run[] {
    const located: Array<{ layer: Digest; order: number; id: BlockId; range: BlockRange }> = [];
    for (const id of new Set(ids)) {
      for (const [order, index] of this.#indexes.entries()) {
        const range = index.locate(id);
        if (range === undefined) continue;
        located.push({ layer: index.layer, order, id, range });
        break;
      }
    }
    located.sort((a, b) => a.order - b.order || a.range.offset - b.range.offset);
    const runs: Run[] = [];
    for (const block of located) {
      const run = runs[runs.length - 1];
      const end = run?.blocks[run.blocks.length - 1]!.range;
      const start = run?.blocks[0]!.range.offset;
      const joins = run !== undefined && run.layer === block.layer && end!.offset + end!.length === block.range.offset
        && block.range.offset + block.range.length - start! <= MAX_RUN_BYTES;
      if (joins) run.blocks.push(block);
      else runs.push({ layer: block.layer, blocks: [block] });
    }
    return runs;
  }
}

/** Blocks read with one range request: side by side in one layer blob. */
interface Run {
  readonly layer: Digest;
  readonly blocks: Array<{ readonly id: BlockId; readonly range: BlockRange }>;
}

/**
 * The `SourceFactory` of registry sources, for a store opened with `auth` (or none): makes a
 * `RegistryBlockSource` from its record, `EINVAL` for a record it cannot read.
 */
export function registrySources(auth: Credentials | undefined): (record: SourceRecord) => BlockSource {
  return (record) => {
    const spec = record.spec as Partial<RegistrySpec> | null;
    if (record.kind !== REGISTRY_SOURCE || typeof spec?.image !== 'string' || typeof spec.insecure !== 'boolean') {
      throw fsError('EINVAL', { syscall: 'open', path: record.name, detail: 'not a registry block source' });
    }
    const reference = parseReference(spec.image);
    const image = parseDigest(reference.digest ?? '', record.name);
    const indexes = record.blobs.map((blob, i) => BlockIndex.decode(blob, `${record.name} index ${i}`));
    return new RegistryBlockSource(reference, image, indexes, { insecure: spec.insecure, ...(auth === undefined ? {} : { auth }) });
  };
}
