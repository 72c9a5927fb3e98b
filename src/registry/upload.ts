/**
 * Getting one blob onto a registry: mount it from a sibling repository when possible, else
 * upload — in one PUT when small, in PATCH chunks when large. After a dropped chunk the
 * registry is asked where the upload stands (`GET` on the session → `Range: 0-N`) and the upload
 * resumes from there. distribution 2.8 cancels a session whose stored size no longer matches its
 * state token (it logs "upload resumed at wrong offest"), which is what a connection dropped
 * mid-chunk leaves; then the blob is uploaded again from a new session. Only the chunks that
 * completed are kept when the registry can resume.
 */
import type { Readable } from 'node:stream';
import { emit } from '../log.js';
import type { RepoClient, UploadProgress } from './client.js';
import { isRetriable, RegistryError } from './errors.js';
import { backoffMs, sleep } from './retry.js';

/** Something that can produce a blob's bytes [start, end) as often as asked. */
export interface BlobSource {
  size: number;
  open(start: number, end: number): Readable;
}

export interface UploadTuning {
  /** Blobs up to this size go in a single PUT (default 32 MiB). */
  monolithicMax?: number;
  /** PATCH size for larger blobs (default 32 MiB). */
  chunkSize?: number;
}

export const DEFAULT_MONOLITHIC_MAX = 32 * 1024 * 1024;
export const DEFAULT_CHUNK = 32 * 1024 * 1024;

export interface UploadResult {
  mounted: boolean;
  /** Bytes sent in requests the registry accepted. */
  bytes: number;
  /** Times the upload had to start over from a new session. */
  restarts: number;
  /** Times a chunked upload resumed from the registry's offset. */
  resumes: number;
}

/** Codes that mean "this session is gone": start a new one rather than fail. */
const SESSION_LOST = new Set(['BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'SIZE_INVALID', 'RANGE_INVALID']);

function restartable(e: unknown): boolean {
  return isRetriable(e) || (e instanceof RegistryError && (SESSION_LOST.has(e.code) || e.status === 416));
}

export async function uploadBlob(
  client: RepoClient,
  digest: string,
  src: BlobSource,
  opts: UploadTuning & { mountFrom?: string } = {},
): Promise<UploadResult> {
  const policy = client.conn.retry;
  const monolithicMax = opts.monolithicMax ?? DEFAULT_MONOLITHIC_MAX;
  const chunkSize = Math.max(1, opts.chunkSize ?? DEFAULT_CHUNK);
  const result: UploadResult = { mounted: false, bytes: 0, restarts: 0, resumes: 0 };
  for (let attempt = 1; ; attempt++) {
    const mount = attempt === 1 && opts.mountFrom && opts.mountFrom !== client.repository ? { digest, from: opts.mountFrom } : undefined;
    // Outside the restart loop's catch: the connection already retries the POST itself, and
    // retrying it here too made 5 × 5 POSTs per blob against a registry that keeps failing.
    const start = await client.startUpload(mount);
    if (start.mounted) {
      result.mounted = true;
      return result;
    }
    try {
      if (src.size <= monolithicMax) {
        await client.finishUpload(start.location, digest, { length: src.size, body: () => src.open(0, src.size) });
        result.bytes += src.size;
        return result;
      }
      await uploadChunks(client, digest, src, start.location, chunkSize, result);
      return result;
    } catch (e) {
      if (!restartable(e) || attempt >= policy.attempts) throw e;
      // The last request may have succeeded with only its answer lost.
      if (await client.headBlob(digest).then((n) => n === src.size, () => false)) return result;
      result.restarts++;
      await sleep(backoffMs(policy, attempt));
    }
  }
}

async function uploadChunks(client: RepoClient, digest: string, src: BlobSource, location: string, chunkSize: number, result: UploadResult): Promise<void> {
  const policy = client.conn.retry;
  let at: UploadProgress = { location, offset: 0 };
  let failures = 0;
  while (at.offset < src.size) {
    const from = at.offset;
    const len = Math.min(chunkSize, src.size - from);
    try {
      at = await client.patchChunk(at.location, from, len, () => src.open(from, from + len));
      result.bytes += len;
      failures = 0;
      emit({ event: 'progress', what: `push ${digest}`, done: at.offset, total: src.size });
    } catch (e) {
      if (!isRetriable(e) || ++failures >= policy.attempts) throw e;
      await sleep(backoffMs(policy, failures));
      // Throws BLOB_UPLOAD_INVALID/UNKNOWN when the registry dropped the session: the caller restarts.
      const status = await client.uploadStatus(at.location);
      if (status.offset > src.size) throw new RegistryError({ method: 'GET', url: at.location, code: 'BLOB_UPLOAD_INVALID', message: `registry holds ${status.offset} bytes of a ${src.size}-byte blob` });
      at = status;
      result.resumes++;
    }
  }
  await client.finishUpload(at.location, digest);
}
