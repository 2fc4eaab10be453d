import type { Digest } from '../image/digest.js';
import type { LongOperation } from '../snapshots/Store.js';

/** A user name and password, for Basic auth or for a bearer-token service. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * How `push` and `pull` reach a registry (shared/API.md, "Registries").
 *
 * - `insecure`: plain HTTP to hosts that are not loopback. Without it, plain HTTP is used for
 *   loopback hosts only (`localhost`, 127.0.0.0/8, `::1`) and HTTPS everywhere else, and a
 *   server that sends the client to plain HTTP elsewhere (a redirect, an upload location, a
 *   token realm) is refused with `EINVAL`. TLS certificates are always verified: Node's `fetch`
 *   has no switch for that without a dispatcher from the `undici` package.
 * - `auth`: credentials, sent as Basic auth when the registry asks for it, or to the token
 *   service when it asks for a bearer token. Without them, a registry that wants auth is
 *   `EACCES` (a token service may still grant anonymous pulls).
 * - `retries`: how many times a dropped connection is retried: a blob download resumes where it
 *   stopped (`Range`); an upload starts that blob again. Default 2; `0` rejects at once with
 *   `ECONNRESET`.
 * - `signal`: aborts with `ABORT_ERR`; `onProgress`: `{ done, total, unit: 'bytes' }` of blob
 *   bytes sent (push) or received (pull).
 */
export interface RegistryOptions extends LongOperation {
  insecure?: boolean;
  auth?: Credentials;
  retries?: number;
}

export interface PushOptions extends RegistryOptions {
  /**
   * Publish for lazy pulling: layers go up uncompressed (`application/vnd.oci.image.layer.v1.tar`,
   * the blob is the diffID), and beside them a block index of each, as an OCI artifact whose
   * `subject` is the image manifest (see `BlockIndex.ts` and `blockIndexArtifact.ts`).
   */
  lazy?: boolean;
  /**
   * A repository of the same registry that may hold the blobs already (the base image's): a
   * blob the target lacks is first asked to be mounted from it (`POST …/blobs/uploads/?mount=…
   * &from=…`), and sent only when the registry does not mount it.
   */
  mountFrom?: string;
  /**
   * Blobs larger than this go up in chunks of this many bytes (`POST`, `PATCH`…, `PUT
   * ?digest=`); smaller ones in one `PUT`. Default 16 MiB.
   */
  chunkSize?: number;
}

export interface PullOptions extends RegistryOptions {
  /**
   * Pull lazily: fetch the manifest, the config and the image's block indexes (published by a
   * `push` with `lazy` from a store of the same block size), make the snapshots from the indexes
   * alone, and fetch each block by an HTTP range request the first time it is read, checked
   * against its id, then kept. An image without such indexes is pulled in full.
   */
  lazy?: boolean;
}

/** What `push` did. */
export interface PushResult {
  /** The digest of the image manifest pushed. */
  readonly digest: Digest;
  /** Bytes of request bodies sent: blobs, chunks, manifests (retried bytes included). */
  readonly bytesSent: number;
  /** Blobs (layers, config, block indexes) not sent: the registry had them, or mounted them. */
  readonly blobsSkipped: number;
}
