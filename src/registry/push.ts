/**
 * Push an image from the local store: every blob the registry lacks (HEAD first: a blob already
 * there costs one request and no bytes), mounted from a sibling repository when the caller
 * names one, then the manifest — last, because a registry rejects a manifest whose blobs it has
 * not got (MANIFEST_BLOB_UNKNOWN). An index pushes its manifests first.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { IbError, wrap } from '../errors.js';
import { emit } from '../log.js';
import { sha256, MediaType, type Descriptor } from '../oci/index.js';
import { RepoClient } from './client.js';
import type { RegistrySession } from './connection.js';
import { mapLimit } from './limit.js';
import { manifestReference, type DockerRef } from './reference.js';
import type { LocalStore } from './store-port.js';
import { uploadBlob, type BlobSource, type UploadTuning } from './upload.js';

export interface PushTuning extends UploadTuning {
  /** Parallel blob uploads (default 3). */
  jobs?: number;
  /**
   * Where the image's base came from: when that is a repository of the same registry, blobs it
   * holds are mounted from it instead of uploaded. A repository name, or a reference (ignored
   * when it names another registry).
   */
  mountFrom?: string | DockerRef;
}

export interface PushResult {
  digest: string;
  mediaType: string;
  size: number;
  /** Bytes of blob data sent (0 when everything was there or mounted). */
  bytesUploaded: number;
  blobs: { digest: string; size: number; state: 'uploaded' | 'exists' | 'mounted' }[];
}

export const DEFAULT_JOBS = 3;

interface ParsedManifest {
  mediaType: string;
  children: Descriptor[];
  blobs: Descriptor[];
}

/** Read a manifest or index and say what it points to. */
export function parseManifestBytes(bytes: Buffer, digest: string): ParsedManifest {
  let j: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  try {
    j = JSON.parse(bytes.toString('utf8')) as typeof j;
  } catch (e) {
    throw new IbError(`manifest ${digest} in the local store is not JSON`, { cause: e, hint: 'the store is damaged; remove the image and build or pull it again' });
  }
  if (Array.isArray(j.manifests)) {
    return { mediaType: j.mediaType ?? MediaType.index, children: j.manifests, blobs: [] };
  }
  if (!j.config || !Array.isArray(j.layers)) {
    throw new IbError(`${digest} in the local store is neither an image manifest nor an index`);
  }
  return { mediaType: j.mediaType ?? MediaType.manifest, children: [], blobs: [...j.layers, j.config] };
}

export async function readStoreBlob(store: LocalStore, digest: string): Promise<Buffer> {
  if (!(await store.hasBlob(digest))) {
    throw new IbError(`${digest} is not in the local store`, { hint: 'build or pull the image again (`ib images` lists what the store holds)' });
  }
  return readFile(store.blobPath(digest));
}

function storeSource(store: LocalStore, d: Descriptor): BlobSource {
  return { size: d.size, open: (start, end) => createReadStream(store.blobPath(d.digest), { start, end: end - 1, highWaterMark: 1024 * 1024 }) };
}

export interface BlobPushResult {
  bytesUploaded: number;
  blobs: PushResult['blobs'];
}

/**
 * Put blobs of the store onto the registry: HEAD first, mount from `tuning.mountFrom` when it is
 * a sibling repository, else upload. `jobs` at a time.
 */
export async function pushStoreBlobs(client: RepoClient, store: LocalStore, blobs: readonly Descriptor[], tuning: PushTuning = {}, out?: BlobPushResult): Promise<BlobPushResult> {
  const result: BlobPushResult = out ?? { bytesUploaded: 0, blobs: [] };
  const m = tuning.mountFrom;
  const registry = client.conn.registry;
  const mountFrom = typeof m === 'string' ? m : m && m.registry === registry ? m.repository : undefined;
  const seen = new Set(result.blobs.map((b) => b.digest));
  const todo = blobs.filter((d) => !seen.has(d.digest) && seen.add(d.digest));
  await mapLimit(todo, tuning.jobs ?? DEFAULT_JOBS, async (d) => {
    try {
      if (!(await store.hasBlob(d.digest))) {
        throw new IbError(`${d.digest} is not in the local store`, { hint: 'build or pull the image again' });
      }
      if ((await client.headBlob(d.digest)) !== undefined) {
        result.blobs.push({ digest: d.digest, size: d.size, state: 'exists' });
        emit({ event: 'blob-pushed', digest: d.digest, bytes: d.size, skipped: true });
        return;
      }
      const r = await uploadBlob(client, d.digest, storeSource(store, d), { ...tuning, mountFrom });
      result.bytesUploaded += r.bytes;
      result.blobs.push({ digest: d.digest, size: d.size, state: r.mounted ? 'mounted' : 'uploaded' });
      emit({ event: 'blob-pushed', digest: d.digest, bytes: d.size, mounted: r.mounted || undefined });
    } catch (e) {
      throw wrap(`pushing blob ${d.digest}`, e);
    }
  });
  return result;
}

/** Push the manifest (or index) `manifestDigest` from the store to `ref` (by its tag, else by digest). */
export async function pushFromStore(
  session: RegistrySession,
  store: LocalStore,
  manifestDigest: string,
  ref: DockerRef,
  tuning: PushTuning = {},
): Promise<PushResult> {
  const client = new RepoClient(session.connection(ref.registry), ref.repository, ['pull', 'push']);
  const result: PushResult = { digest: manifestDigest, mediaType: '', size: 0, bytesUploaded: 0, blobs: [] };

  const pushManifest = async (digest: string, reference: string): Promise<{ mediaType: string; size: number }> => {
    const bytes = await readStoreBlob(store, digest);
    if (sha256(bytes) !== digest) {
      throw new IbError(`manifest ${digest} in the local store does not match its digest`, { hint: 'the store is damaged; run `ib prune` and build or pull the image again' });
    }
    const m = parseManifestBytes(bytes, digest);
    for (const child of m.children) await pushManifest(child.digest, child.digest);
    // Layers first, the config with them, the manifest after all of them.
    await pushStoreBlobs(client, store, m.blobs, tuning, result);
    try {
      await client.putManifest(reference, bytes, m.mediaType);
    } catch (e) {
      throw wrap(`pushing manifest ${digest}`, e);
    }
    return { mediaType: m.mediaType, size: bytes.length };
  };

  const reference = ref.tag ?? manifestReference(ref);
  if (ref.digest && ref.digest !== manifestDigest) {
    throw new IbError(`cannot push ${manifestDigest} to a reference pinned to ${ref.digest}`, { hint: 'drop the @digest from the destination, or push the image with that digest' });
  }
  const top = await pushManifest(manifestDigest, reference);
  result.mediaType = top.mediaType;
  result.size = top.size;
  return result;
}
