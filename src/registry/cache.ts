/**
 * The registry as a shared build cache (`--cache-to` / `--cache-from`), like BuildKit's registry
 * cache: one OCI artifact in a repository maps step keys to layers. Its config blob is the map
 * (`{ version, steps: [{ key, empty, layer?, createdBy }] }`, sorted by key); its layers are the
 * layer blobs themselves, so the registry links them to the repository and its garbage collector
 * keeps them. A second machine reads the map and pulls only the layers of the steps it needs.
 * Writing merges with what is there, so many recipes and machines can share one cache tag (the
 * last writer wins on a race; a lost entry is only a cache miss).
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { IbError, wrap } from '../errors.js';
import { emit } from '../log.js';
import { canonicalJson, sha256, Digest, Manifest, MediaType, type Descriptor } from '../oci/index.js';
import { RepoClient } from './client.js';
import type { RegistrySession } from './connection.js';
import { withSession } from './transfer.js';
import { RegistryError } from './errors.js';
import { remoteBlobStream } from './pull.js';
import { pushStoreBlobs, type PushTuning } from './push.js';
import { formatRef, parseDockerRef, type DockerRef } from './reference.js';
import type { LocalStore } from './store-port.js';
import type { ConnectionOptions } from './connection.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.ib.build-cache.v1';
export const CACHE_CONFIG_TYPE = 'application/vnd.ib.build-cache.config.v1+json';

/** One cached step, as `build/` records it locally. */
export const CacheStep = z.object({
  key: Digest,
  empty: z.boolean(),
  layer: z.object({ digest: Digest, diffId: Digest, size: z.number().int().nonnegative(), mediaType: z.string() }).optional(),
  createdBy: z.string(),
});
export type CacheStep = z.infer<typeof CacheStep>;

const CacheConfig = z.object({ version: z.literal(1), steps: z.array(CacheStep) });

export interface CacheOptions extends ConnectionOptions, PushTuning {
  session?: RegistrySession;
}

function cacheRef(ref: string | DockerRef): DockerRef {
  return typeof ref === 'string' ? parseDockerRef(ref) : ref;
}


async function readCache(client: RepoClient, ref: DockerRef): Promise<Map<string, CacheStep>> {
  const out = new Map<string, CacheStep>();
  let remote;
  try {
    remote = await client.getManifest(ref.digest ?? ref.tag ?? 'latest');
  } catch (e) {
    // No cache yet is the normal first run.
    if (e instanceof RegistryError && (e.code === 'MANIFEST_UNKNOWN' || e.code === 'NAME_UNKNOWN')) return out;
    throw e;
  }
  const m = Manifest.safeParse(JSON.parse(remote.bytes.toString('utf8')));
  if (!m.success || m.data.config.mediaType !== CACHE_CONFIG_TYPE) {
    throw new IbError(`${formatRef(ref)} is not an ib build cache`, { hint: 'point --cache-from/--cache-to at a repository tag that only ib writes to' });
  }
  const { body } = await client.getBlob(m.data.config.digest);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > 64 * 1024 * 1024) throw new IbError(`build cache map of ${formatRef(ref)} is larger than 64 MiB`);
    chunks.push(c as Buffer);
  }
  const raw = Buffer.concat(chunks);
  if (sha256(raw) !== m.data.config.digest) {
    throw new RegistryError({ method: 'GET', url: formatRef(ref), code: 'DIGEST_INVALID', message: `cache map ${m.data.config.digest} does not match its digest` });
  }
  const cfg = CacheConfig.safeParse(JSON.parse(raw.toString('utf8')));
  if (!cfg.success) throw new IbError(`the build cache map of ${formatRef(ref)} is not in a format this ib knows`, { hint: 'write it again with --cache-to' });
  for (const s of cfg.data.steps) out.set(s.key, s);
  return out;
}

/** The step key → layer map stored at `ref` (empty when there is none yet). */
export async function readRegistryCache(ref: string | DockerRef, opts: CacheOptions = {}): Promise<Map<string, CacheStep>> {
  const r = cacheRef(ref);
  return withSession(opts, (s) => readCache(new RepoClient(s.connection(r.registry), r.repository), r)).catch((e: unknown) => {
    throw wrap(`reading the build cache ${formatRef(r)}`, e);
  });
}

/** Pull the layer of a cached step into the store (verified; nothing stored on a mismatch). */
export async function fetchCachedLayer(store: LocalStore, ref: string | DockerRef, layer: Descriptor, opts: CacheOptions = {}): Promise<void> {
  if (await store.hasBlob(layer.digest)) return;
  const r = cacheRef(ref);
  await withSession(opts, async (s) => {
    const client = new RepoClient(s.connection(r.registry), r.repository);
    await store.putBlob(remoteBlobStream(client, layer), { digest: layer.digest, size: layer.size });
    emit({ event: 'blob-pulled', digest: layer.digest, bytes: layer.size });
  }).catch((e: unknown) => {
    throw wrap(`pulling cached layer ${layer.digest} from ${formatRef(r)}`, e);
  });
}

/**
 * Push the layers of `steps` from the store and record them in the cache at `ref`, merged with
 * the entries already there. Returns the cache manifest's digest and the number of entries.
 */
export async function writeRegistryCache(
  store: LocalStore,
  ref: string | DockerRef,
  steps: readonly CacheStep[],
  opts: CacheOptions = {},
): Promise<{ digest: string; entries: number }> {
  const r = cacheRef(ref);
  return withSession(opts, async (s) => {
    const client = new RepoClient(s.connection(r.registry), r.repository, ['pull', 'push']);
    const merged = await readCache(client, r);
    for (const st of steps) merged.set(st.key, CacheStep.parse(st));
    const all = [...merged.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const layers = new Map<string, Descriptor>();
    for (const st of all) if (st.layer) layers.set(st.layer.digest, { mediaType: st.layer.mediaType, digest: st.layer.digest, size: st.layer.size });
    // Our layers come from the store; entries merged from the registry are there already.
    const ours = new Set(steps.filter((st) => st.layer).map((st) => st.layer!.digest));
    const sorted = [...layers.values()].sort((a, b) => (a.digest < b.digest ? -1 : 1));
    const config = Buffer.from(canonicalJson({ version: 1, steps: all }));
    const configDesc: Descriptor = { mediaType: CACHE_CONFIG_TYPE, digest: sha256(config), size: config.length };
    const manifest = Buffer.from(canonicalJson({
      schemaVersion: 2, mediaType: MediaType.manifest, artifactType: CACHE_ARTIFACT_TYPE, config: configDesc, layers: sorted,
    }));
    await pushStoreBlobs(client, store, [...ours].map((d) => layers.get(d)!), opts);
    if ((await client.headBlob(configDesc.digest)) === undefined) {
      const start = await client.startUpload();
      if (!start.mounted) await client.finishUpload(start.location, configDesc.digest, { length: config.length, body: () => Readable.from([config], { objectMode: false }) });
    }
    const digest = await client.putManifest(r.tag ?? 'latest', manifest, MediaType.manifest);
    return { digest, entries: all.length };
  }).catch((e: unknown) => {
    throw wrap(`writing the build cache ${formatRef(r)}`, e);
  });
}
