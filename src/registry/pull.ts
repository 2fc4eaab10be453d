import { fsError, hasCode } from '../core/errors.js';
import { chainIds } from '../image/digest.js';
import { applyLayer } from '../image/layerImport.js';
import { checkAborted } from '../image/oci/byteStream.js';
import { hasChainLayer, historyLabels } from '../image/oci/chainLayers.js';
import { LABEL_DIFF_ID } from '../image/oci/labels.js';
import type { SnapshotInfo, Store } from '../snapshots/Store.js';
import { formatReference, parseReference } from './Reference.js';
import { RegistryClient } from './RegistryClient.js';
import type { PullOptions } from './RegistryOptions.js';
import { resolveRemoteImage } from './remoteImage.js';

const SYSCALL = 'pull';

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
 * Errors: as `parseReference` and `RegistryClient` (`EACCES`, `ENOENT` for an unknown
 * repository, tag or blob, `EIO`…), as `importImage` for a bad image or layer (`EINVAL`), and
 * `EINVAL` when a chain ID names a snapshot that is not this image's layer. `lazy` is accepted
 * and does a full pull (see `PullOptions`). Progress: `{ done, total, unit: 'bytes' }` of the
 * missing layers' blob bytes.
 */
export async function pull(store: Store, ref: string, options: PullOptions = {}): Promise<SnapshotInfo> {
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
  let done = 0;
  for (const [i, layer] of image.layers.entries()) {
    checkAborted(signal, SYSCALL, ref);
    const key = chain[i]!;
    if (present[i] === true || (await hasChainLayer(store, key, chain[i - 1], SYSCALL))) continue;
    const blob = client.openBlob(layer);
    try {
      await applyLayer(store, key, chain[i - 1], { stream: blob, total: layer.size }, {
        signal, onProgress: options.onProgress, progressStart: done, progressTotal: total,
        labels: { ...historyLabels(history[i]), [LABEL_DIFF_ID]: diffIds[i]! },
        expect: { diffId: diffIds[i]!, name: `${name} layer ${layer.digest}` },
      });
    } catch (error) {
      if (hasCode(error, 'EEXIST') && (await hasChainLayer(store, key, chain[i - 1], SYSCALL))) continue; // another pull committed it meanwhile
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
