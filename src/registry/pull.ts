/**
 * Pull an image into the local store: the manifest (an index first picks the platform), then
 * each blob streamed straight into `store.putBlob` with its expected digest and size — the store
 * hashes while writing and keeps nothing that does not match. A connection dropped mid-blob is
 * resumed with a `Range` request from the byte reached; the manifest goes in last, so the store
 * never holds a manifest without its blobs.
 */
import { PassThrough, Readable } from 'node:stream';
import { IbError, wrap } from '../errors.js';
import { emit } from '../log.js';
import { isIndexMediaType, Index, Manifest, type Descriptor, type Platform } from '../oci/index.js';
import { RepoClient, type RemoteManifest } from './client.js';
import type { RegistrySession } from './connection.js';
import { isRetriable, RegistryError } from './errors.js';
import { mapLimit } from './limit.js';
import { choosePlatform } from './platform.js';
import { formatRef, manifestReference, type DockerRef } from './reference.js';
import { backoffMs, sleep } from './retry.js';
import type { LocalStore } from './store-port.js';

export interface PullTuning {
  jobs?: number;
  /** Which image of an index (default: the host's). */
  platform?: Platform;
}

export interface PullResult {
  descriptor: Descriptor;
  manifest: Manifest;
  /** The manifest's exact bytes, as the registry served them. */
  manifestBytes: Buffer;
  bytesDownloaded: number;
}

/**
 * A blob as one stream, re-requesting `Range: bytes=N-` after a drop. Response bodies are piped
 * by hand into one PassThrough (an async generator per chunk cost ~15% of pull throughput).
 */
export function remoteBlobStream(client: RepoClient, d: Descriptor, onBytes?: (n: number) => void): Readable {
  const policy = client.conn.retry;
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  let received = 0;

  /** Copy one response body into `out`, skipping bytes already delivered. */
  const drain = (body: Readable, skipBytes: number) => new Promise<void>((resolve, reject) => {
    let skip = skipBytes;
    const onClose = () => reject(Object.assign(new Error('the reader went away'), { code: 'ERR_STREAM_DESTROYED' }));
    out.once('close', onClose);
    body.on('data', (chunk: Buffer) => {
      let c = chunk;
      if (skip > 0) {
        if (c.length <= skip) {
          skip -= c.length;
          return;
        }
        c = c.subarray(skip);
        skip = 0;
      }
      received += c.length;
      onBytes?.(c.length);
      if (!out.write(c)) {
        body.pause();
        out.once('drain', () => body.resume());
      }
    });
    body.once('end', () => {
      out.off('close', onClose);
      resolve();
    });
    body.once('error', (e) => {
      out.off('close', onClose);
      reject(e);
    });
  });

  void (async () => {
    let failures = 0;
    while (received < d.size && !out.destroyed) {
      let body: Readable | undefined;
      let r: { body: Readable; start: number };
      try {
        r = await client.getBlob(d.digest, received);
      } catch (e) {
        // The request itself was already retried by the connection (resets, timeouts, 429, 5xx):
        // retrying it here too made 5 × 5 attempts, 50 minutes for a registry gone silent.
        if (!out.destroyed) out.destroy(e as Error);
        return;
      }
      try {
        body = r.body;
        // A server that ignores Range sends it all again: skip what we already have.
        const before = received;
        await drain(body, received - r.start);
        if (received > before) failures = 0;
        if (received < d.size) {
          throw Object.assign(new Error(`connection closed after ${received} of ${d.size} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
        }
      } catch (e) {
        body?.destroy();
        if (out.destroyed) return;
        if (!isRetriable(e) || ++failures >= policy.attempts) {
          out.destroy(e as Error);
          return;
        }
        await sleep(backoffMs(policy, failures));
      }
    }
    out.end();
  })();
  return out;
}

function rejectSchema1(m: RemoteManifest, url: string): void {
  if (/^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/.test(m.mediaType) || /"schemaVersion"\s*:\s*1\s*[,}]/.test(m.bytes.toString('utf8'))) {
    throw new RegistryError({ method: 'GET', url, code: 'UNSUPPORTED', message: 'Docker schema 1 manifests are not supported', hint: 'push the image again with a current docker, podman or skopeo (they write schema 2 / OCI)' });
  }
}

function parseJson<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, m: RemoteManifest, what: string): T {
  const r = schema.safeParse(JSON.parse(m.bytes.toString('utf8')));
  if (!r.success) {
    const i = r.error.issues[0];
    throw new RegistryError({ method: 'GET', url: what, code: 'MANIFEST_INVALID', message: `${m.digest}: ${i ? `.${i.path.join('.')}: ${i.message}` : 'invalid'}` });
  }
  return r.data;
}

/** Resolve a reference to one image manifest (choosing from an index), without touching the store. */
export async function fetchImageManifest(client: RepoClient, ref: DockerRef, platform?: Platform): Promise<{ remote: RemoteManifest; manifest: Manifest; platform?: Platform }> {
  const where = formatRef(ref);
  let remote = await client.getManifest(manifestReference(ref));
  rejectSchema1(remote, where);
  let chosen: Platform | undefined;
  if (isIndexMediaType(remote.mediaType) || remote.bytes.includes('"manifests"')) {
    const index = parseJson(Index, remote, where);
    const d = choosePlatform(index.manifests, platform, where);
    chosen = d.platform;
    remote = await client.getManifest(d.digest);
    rejectSchema1(remote, where);
  }
  return { remote, manifest: parseJson(Manifest, remote, where), platform: chosen };
}

export async function pullToStore(
  session: RegistrySession,
  store: LocalStore,
  ref: DockerRef,
  tuning: PullTuning = {},
): Promise<PullResult> {
  const client = new RepoClient(session.connection(ref.registry), ref.repository);
  const { remote, manifest, platform } = await fetchImageManifest(client, ref, tuning.platform);
  let bytesDownloaded = 0;
  const seen = new Set<string>();
  const blobs = [manifest.config, ...manifest.layers].filter((d) => !seen.has(d.digest) && seen.add(d.digest));
  await mapLimit(blobs, tuning.jobs ?? 3, async (d) => {
    try {
      if (d.urls?.length && /nondistributable|foreign/.test(d.mediaType)) {
        throw new IbError(`layer ${d.digest} is a foreign layer (served from ${d.urls[0]}), which ib does not fetch`);
      }
      if (await store.hasBlob(d.digest)) {
        emit({ event: 'blob-pulled', digest: d.digest, bytes: d.size, cached: true });
        return;
      }
      let n = 0;
      let shown = 0;
      const stream = remoteBlobStream(client, d, (k) => {
        n += k;
        // Byte progress for bars on a TTY / --json, at most every 4 MiB per blob.
        if (n - shown >= 4 * 1024 * 1024) {
          shown = n;
          emit({ event: 'progress', what: `pull ${d.digest}`, done: n, total: d.size });
        }
      });
      await store.putBlob(stream, { digest: d.digest, size: d.size });
      bytesDownloaded += n;
      emit({ event: 'blob-pulled', digest: d.digest, bytes: d.size });
    } catch (e) {
      throw wrap(`pulling blob ${d.digest}`, e);
    }
  });
  if (!(await store.hasBlob(remote.digest))) {
    await store.putBlob(Readable.from([remote.bytes], { objectMode: false }), { digest: remote.digest, size: remote.bytes.length });
  }
  const descriptor: Descriptor = { mediaType: remote.mediaType, digest: remote.digest, size: remote.bytes.length };
  if (platform) descriptor.platform = platform;
  return { descriptor, manifest, manifestBytes: remote.bytes, bytesDownloaded };
}
