/**
 * Registry → registry copy: the compressed blobs move as they are (never decompressed and
 * recompressed, so digests and manifest bytes stay identical), streamed from the source's GET
 * into the destination's upload without touching the disk. On the same registry a blob is
 * mounted from the source repository and no bytes move at all.
 */
import { Readable } from 'node:stream';
import { wrap } from '../errors.js';
import { emit } from '../log.js';
import { Index, isIndexMediaType, type Descriptor, type Platform } from '../oci/index.js';
import { RepoClient } from './client.js';
import type { RegistrySession } from './connection.js';
import { mapLimit } from './limit.js';
import { fetchImageManifest } from './pull.js';
import { manifestReference, type DockerRef } from './reference.js';
import { uploadBlob, type BlobSource, type UploadTuning } from './upload.js';

export interface CopyTuning extends UploadTuning {
  jobs?: number;
  platform?: Platform;
  /** Copy every image of an index, and the index itself (skopeo's --all). */
  all?: boolean;
}

export interface CopyResult {
  digest: string;
  mediaType: string;
  size: number;
  bytesCopied: number;
}

/** Bytes [start, end) of a remote blob, trimming what a server that ignores Range sends extra. */
function remoteSource(src: RepoClient, d: Descriptor): BlobSource {
  return {
    size: d.size,
    open(start, end) {
      async function* gen(): AsyncGenerator<Buffer> {
        const r = await src.getBlob(d.digest, start, end);
        let skip = start - r.start;
        let left = end - start;
        for await (const chunk of r.body) {
          let c = chunk as Buffer;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          if (c.length > left) c = c.subarray(0, left);
          left -= c.length;
          if (c.length) yield c;
          if (left === 0) {
            r.body.destroy();
            return;
          }
        }
      }
      return Readable.from(gen(), { objectMode: false });
    },
  };
}

export async function copyBetweenRegistries(
  session: RegistrySession,
  from: DockerRef,
  to: DockerRef,
  tuning: CopyTuning = {},
): Promise<CopyResult> {
  const src = new RepoClient(session.connection(from.registry), from.repository);
  const dst = new RepoClient(session.connection(to.registry), to.repository, ['pull', 'push']);
  const sameRegistry = from.registry === to.registry;
  let bytesCopied = 0;
  const done = new Set<string>();

  const copyBlob = async (d: Descriptor) => {
    if (done.has(d.digest)) return;
    done.add(d.digest);
    try {
      if ((await dst.headBlob(d.digest)) !== undefined) {
        emit({ event: 'blob-pushed', digest: d.digest, bytes: d.size, skipped: true });
        return;
      }
      // One GET streamed into one PUT per blob, as skopeo does: ranged GETs and PATCHes per
      // 32 MiB chunk cost round trips, and distribution restarts a blob cut mid-chunk anyway.
      const r = await uploadBlob(dst, d.digest, remoteSource(src, d), {
        monolithicMax: Number.MAX_SAFE_INTEGER, ...tuning, mountFrom: sameRegistry ? from.repository : undefined,
      });
      bytesCopied += r.bytes;
      emit({ event: 'blob-pushed', digest: d.digest, bytes: d.size, mounted: r.mounted || undefined });
    } catch (e) {
      throw wrap(`copying blob ${d.digest}`, e);
    }
  };

  const copyManifest = async (digest: string, reference: string): Promise<CopyResult> => {
    const remote = await src.getManifest(digest);
    const j = JSON.parse(remote.bytes.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[] };
    await mapLimit([...(j.layers ?? []), ...(j.config ? [j.config] : [])], tuning.jobs ?? 3, copyBlob);
    await dst.putManifest(reference, remote.bytes, remote.mediaType);
    return { digest: remote.digest, mediaType: remote.mediaType, size: remote.bytes.length, bytesCopied };
  };

  const reference = to.tag ?? manifestReference(to);
  const top = await src.getManifest(manifestReference(from));
  if ((isIndexMediaType(top.mediaType) || top.bytes.includes('"manifests"')) && tuning.all) {
    const index = Index.parse(JSON.parse(top.bytes.toString('utf8')));
    for (const m of index.manifests) await copyManifest(m.digest, m.digest);
    await dst.putManifest(reference, top.bytes, top.mediaType);
    return { digest: top.digest, mediaType: top.mediaType, size: top.bytes.length, bytesCopied };
  }
  // One image: an index resolves to the chosen platform's manifest, copied byte for byte.
  const { remote } = await fetchImageManifest(src, { ...from, digest: top.digest, tag: undefined }, tuning.platform);
  return copyManifest(remote.digest, reference);
}
