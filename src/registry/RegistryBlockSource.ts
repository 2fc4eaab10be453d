import { createHash } from 'node:crypto';
import type { BlockId } from '../core/BlockId.js';
import { fsError } from '../core/errors.js';
import { parseDigest, type Digest } from '../image/digest.js';
import type { BlockSource, SourceRecord } from '../store/BlockSource.js';
import { BlockIndex } from './BlockIndex.js';
import { formatReference, parseReference, type Reference } from './Reference.js';
import { RegistryClient } from './RegistryClient.js';
import type { Credentials } from './RegistryOptions.js';

/** `SourceRecord.kind` of a registry source. */
export const REGISTRY_SOURCE = 'registry';
const SYSCALL = 'read';

/** What a durable store keeps of a registry source (`SourceRecord.spec`); its blobs are the encoded indexes, in layer order. */
interface RegistrySpec {
  /** `host[:port]/repository@digest` of the image manifest. */
  readonly image: string;
  readonly insecure: boolean;
}

/**
 * A `BlockSource` over the layers of one image in a registry, pushed with `lazy`: a block is
 * fetched with one range request into the first layer whose block index has it, and checked
 * against its id (`EINTEGRITY`). Its record names the image by digest and holds the indexes,
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

  async fetch(id: BlockId): Promise<Uint8Array | undefined> {
    for (const index of this.#indexes) {
      const range = index.locate(id);
      if (range === undefined) continue;
      const bytes = await this.#client.readRange(index.layer, range.offset, range.length);
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== id) {
        throw fsError('EINTEGRITY', { syscall: 'digest', path: `${index.layer} bytes ${range.offset}-${range.offset + range.length - 1}`, detail: `block is sha256:${actual}, expected sha256:${id}` });
      }
      return bytes;
    }
    return undefined;
  }
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
