import { fsError, hasCode } from '../core/errors.js';
import { chainIds, type Digest } from '../image/digest.js';
import { applyLayer, applyLazyLayer, type LazyLayerEntry } from '../image/layerImport.js';
import type { TarEntryHeader } from '../image/tar/index.js';
import { checkAborted } from '../image/oci/byteStream.js';
import { committedMeanwhile, hasChainLayer, layerLabels } from '../image/oci/chainLayers.js';
import type { HistoryEntry } from '../image/oci/documents.js';
import type { SnapshotInfo, Store } from '../snapshots/Store.js';
import type { BlockSource } from '../store/BlockSource.js';
import type { BlockIndex, TocEntry } from './BlockIndex.js';
import { fetchBlockIndexes } from './blockIndexArtifact.js';
import { formatReference, parseReference } from './Reference.js';
import { RegistryClient } from './RegistryClient.js';
import type { PullOptions } from './RegistryOptions.js';
import { RegistryBlockSource } from './RegistryBlockSource.js';
import { resolveRemoteImage, type RemoteImage } from './remoteImage.js';

const SYSCALL = 'pull';
/** Typeflags of the entry types a block index lists (`applyLazyLayer` rejects the unsupported ones, as a full pull does). */
const TYPEFLAGS: Record<TocEntry['type'], string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', directory: '5', fifo: '6', unsupported: '?' };

/** Where a lazy pull leaves the blocks it does not fetch: the store's block sources (`FetchingBlockStore`). */
export interface RemoteBlocks {
  /** Adds `source`, durably; resolves to the function that unpins it (pinned, it outlives any `gc`). */
  attach(source: BlockSource): Promise<() => void>;
}

/**
 * Pulls image `ref` (`host[:port]/name[:tag|@digest]`, see `parseReference`) into `store`, as
 * `importImage` imports a layout: each layer becomes a committed snapshot keyed by its chain ID,
 * on the one below it, labelled with its diffID (`cowstack.diff_id`) and config history
 * (`cowstack.history.*`). A chain ID the store has already (committed, on the right parent) is
 * used as it is: its blob is not fetched. Resolves to the top snapshot's `SnapshotInfo`.
 *
 * Fetched: the manifest (an index is followed to this platform), the config, then the missing
 * layers one by one, each streamed into `applyLayer` as it arrives (gzip or not), so a layer
 * costs no disk beyond its blocks. Checked before anything is committed: the manifest and config
 * against their digests; each layer blob against its digest and size as it ends, and its tar
 * against its diffID. A blob that does not match is `EINTEGRITY`, also when the damage first
 * made its gzip or tar unreadable (the rest of the blob is then read to tell). A dropped
 * connection resumes the layer where it stopped (`retries`), then rejects with `ECONNRESET`.
 * A failed layer commits nothing (its work snapshot is removed); layers below it, complete and
 * checked, stay, and a retry starts above them.
 *
 * With `lazy` (and `remote`, the store's block sources), when the registry has block indexes of
 * the image at the store's block size, no layer blob is fetched: a `RegistryBlockSource` over the
 * indexes is attached to the store (saved before any snapshot relies on it), and each missing
 * layer is applied from its index's table of contents (`applyLazyLayer`), its files made of block
 * ids. The snapshots are then as good as the registry's word on the indexes (see
 * `blockIndexArtifact.ts`, "Trust"); every block is checked against its id when fetched. Without
 * indexes, the pull is a full one. Progress of a lazy pull: `{ done, total, unit: 'layers' }`.
 *
 * Errors: as `parseReference` and `RegistryClient` (`EACCES`, `ENOENT` for an unknown
 * repository, tag or blob, `EIO`…), as `importImage` for a bad image or layer (`EINVAL`), and
 * `EINVAL` when a chain ID names a snapshot that is not this image's layer or a block index is
 * malformed. Progress: `{ done, total, unit: 'bytes' }` of the missing layers' blob bytes.
 */
export async function pull(store: Store, ref: string, options: PullOptions = {}, remote?: RemoteBlocks): Promise<SnapshotInfo> {
  const reference = parseReference(ref);
  const { signal } = options;
  checkAborted(signal, SYSCALL, ref);
  const client = new RegistryClient(reference, options, SYSCALL, 'pull');
  const image = await resolveRemoteImage(client, reference.digest ?? reference.tag!, SYSCALL);
  const { diffIds } = image.config;
  const chain = chainIds(diffIds);
  const present = await Promise.all(chain.map((key, i) => hasChainLayer(store, key, chain[i - 1], SYSCALL)));
  const total = image.layers.reduce((sum, layer, i) => sum + (present[i] === true ? 0 : layer.size), 0);
  const history = image.config.history.filter((entry) => entry.empty_layer !== true);
  const name = formatReference(reference);
  // Lazy, the source is attached even when every layer is here: their blocks may still be remote
  // (a source lost with a damaged `sources` file, or credentials to refresh).
  if (options.lazy === true && remote !== undefined) {
    const indexes = await fetchBlockIndexes(client, image, store.blockSize).catch((error: unknown) => {
      if (hasCode(error, 'ENOENT')) return undefined;
      throw error;
    });
    if (indexes !== undefined) {
      const release = await remote.attach(new RegistryBlockSource(reference, image.digest, indexes, options));
      try {
        return await pullLazily(store, image, indexes, chain, history, options);
      } finally {
        release();
      }
    }
  }
  let done = 0;
  for (const [i, layer] of image.layers.entries()) {
    checkAborted(signal, SYSCALL, ref);
    const key = chain[i]!;
    if (present[i] === true || (await hasChainLayer(store, key, chain[i - 1], SYSCALL))) continue;
    const blob = client.openBlob(layer);
    try {
      await applyLayer(store, key, chain[i - 1], { stream: blob, total: layer.size }, {
        signal, onProgress: options.onProgress, progressStart: done, progressTotal: total,
        labels: layerLabels(history[i], diffIds[i]!),
        expect: { diffId: diffIds[i]!, name: `${name} layer ${layer.digest}` },
      });
    } catch (error) {
      if (await committedMeanwhile(error, store, key, chain[i - 1], SYSCALL)) continue;
      // A layer the tar or gzip reader refused may be a damaged blob: the rest of it tells.
      if (hasCode(error, 'EINVAL') && !(await blob.matches().catch(() => true))) {
        throw fsError('EINTEGRITY', { syscall: 'digest', path: layer.digest, detail: `the blob does not match its digest (it broke the layer: ${(error as Error).message})`, cause: error });
      }
      throw error;
    } finally {
      await blob.close();
    }
    done += layer.size;
  }
  return store.stat(chain[chain.length - 1]!);
}

/** The lazy half of `pull`: every missing layer applied from its block index, its source attached. */
async function pullLazily(
  store: Store, image: RemoteImage, indexes: readonly BlockIndex[], chain: readonly Digest[], history: readonly HistoryEntry[], options: PullOptions,
): Promise<SnapshotInfo> {
  const { signal } = options;
  for (const [i, index] of indexes.entries()) {
    checkAborted(signal, SYSCALL, image.digest);
    const key = chain[i]!;
    if (!(await hasChainLayer(store, key, chain[i - 1], SYSCALL))) {
      try {
        await applyLazyLayer(store, key, chain[i - 1], lazyEntries(index), {
          signal, labels: layerLabels(history[i], image.config.diffIds[i]!),
        });
      } catch (error) {
        if (!(await committedMeanwhile(error, store, key, chain[i - 1], SYSCALL))) throw error;
      }
    }
    options.onProgress?.({ done: i + 1, total: indexes.length, unit: 'layers' });
  }
  return store.stat(chain[chain.length - 1]!);
}

/** A block index's table of contents as the entries of its layer, files with their block ids. */
function* lazyEntries(index: BlockIndex): Generator<LazyLayerEntry> {
  for (const entry of index.entries) {
    const header: TarEntryHeader = {
      path: entry.path, type: entry.type, typeflag: TYPEFLAGS[entry.type], mode: entry.mode, uid: entry.uid, gid: entry.gid,
      uname: '', gname: '', size: entry.size ?? 0, mtimeMs: entry.mtimeMs, linkTarget: entry.linkTarget ?? '',
      devMajor: 0, devMinor: 0, xattrs: new Map(),
    };
    yield entry.type === 'file' ? { header, blocks: index.fileBlocks(entry) } : { header };
  }
}
