/**
 * The registry part's public face: push, pull, copy and inspect over the OCI distribution API,
 * plus reference parsing. Every function opens its own RegistrySession (sockets, token cache)
 * and closes it, unless the caller passes one to share across calls.
 */
import { IbError, UsageError, wrap } from '../errors.js';
import { emit } from '../log.js';
import { sha256, ImageConfig, Index, isIndexMediaType, type Descriptor, type Manifest } from '../oci/index.js';
import { RepoClient } from './client.js';
import { RegistrySession, type ConnectionOptions } from './connection.js';
import { copyBetweenRegistries, type CopyResult, type CopyTuning } from './copy.js';
import { RegistryError } from './errors.js';
import { fetchImageManifest, pullToStore, type PullResult, type PullTuning } from './pull.js';
import { pushFromStore, type PushResult, type PushTuning } from './push.js';
import { formatRef, parseDockerRef, parseRef, storeNameOf, type DockerRef, type ImageRef } from './reference.js';
import type { LocalStore } from './store-port.js';
import { copyLocal, layoutName, openLocal, resolveLocal, type LocalRef } from './layout.js';

export * from './reference.js';
export { RegistryError, redactUrl } from './errors.js';
export { RegistrySession, type ConnectionOptions } from './connection.js';
export { findCredentials, authFilePaths, type Credentials } from './credentials.js';
export { parsePlatform, formatPlatform, choosePlatform } from './platform.js';
export type { LocalStore } from './store-port.js';
export type { PushResult, PullResult, CopyResult };

export interface RegistryOptions extends ConnectionOptions {
  /** Share sockets and tokens across calls; the caller closes it. */
  session?: RegistrySession;
}

async function withSession<T>(opts: RegistryOptions, fn: (s: RegistrySession) => Promise<T>): Promise<T> {
  if (opts.session) return fn(opts.session);
  const s = new RegistrySession(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

function dockerRef(ref: string | ImageRef): DockerRef {
  if (typeof ref !== 'string') {
    if (ref.transport !== 'docker') throw new UsageError(`${formatRef(ref)} is not a registry reference`, { hint: 'use docker://HOST/REPO[:TAG] or HOST/REPO[:TAG]' });
    return ref;
  }
  return parseDockerRef(ref);
}

/** Push the image whose manifest (or index) is `manifestDigest` in the store to `ref`. */
export async function pushImage(
  store: LocalStore,
  manifestDigest: string,
  ref: string | ImageRef,
  opts: RegistryOptions & PushTuning = {},
): Promise<PushResult> {
  const r = dockerRef(ref);
  const res = await withSession(opts, (s) => pushFromStore(s, store, manifestDigest, r, opts)).catch((e: unknown) => {
    throw wrap(`pushing ${manifestDigest.slice(0, 19)} to ${formatRef(r)}`, e);
  });
  emit({ event: 'image', ref: formatRef(r), digest: res.digest });
  return res;
}

/**
 * Pull `ref` into the store and tag it there — as `tag` when given, else under its full name
 * (`localhost:5000/acme/base:1`, as podman does); a digest-only reference is not tagged.
 */
export async function pullImage(
  store: LocalStore,
  ref: string | ImageRef,
  opts: RegistryOptions & PullTuning & { tag?: string | false } = {},
): Promise<PullResult & { name?: string }> {
  const r = dockerRef(ref);
  const res = await withSession(opts, (s) => pullToStore(s, store, r, opts)).catch((e: unknown) => {
    throw wrap(`pulling ${formatRef(r)}`, e);
  });
  const name = opts.tag === false ? undefined : opts.tag ?? (r.tag ? storeNameOf({ ...r, digest: undefined }) : undefined);
  if (name) await store.tag(name, res.descriptor);
  emit({ event: 'image', ref: name ?? formatRef(r), digest: res.descriptor.digest });
  return { ...res, name };
}

/**
 * Copy between transports. Blobs move as they are — never recompressed — so the destination's
 * manifest is byte-identical to the source's. Supported: registry ↔ registry, registry ↔ store
 * or oci: layout, store ↔ oci: layout (an `oci:` destination without a tag is tagged `latest`).
 */
export async function copyImage(
  src: string | ImageRef,
  dst: string | ImageRef,
  opts: RegistryOptions & CopyTuning & PushTuning & { store?: LocalStore } = {},
): Promise<CopyResult> {
  const from = typeof src === 'string' ? parseRef(src) : src;
  const to = typeof dst === 'string' ? parseRef(dst) : dst;
  const what = `copying ${formatRef(from)} to ${formatRef(to)}`;
  if (from.transport === 'docker-daemon' || to.transport === 'docker-daemon') {
    throw new IbError(`${what}: the docker-daemon: transport is not supported yet`, { hint: 'copy through an oci: layout or the local store for now' });
  }
  try {
    if (from.transport === 'docker' && to.transport === 'docker') {
      const res = await withSession(opts, (s) => copyBetweenRegistries(s, from, to, opts));
      emit({ event: 'image', ref: formatRef(to), digest: res.digest });
      return res;
    }
    if (from.transport === 'docker') {
      const dest = await openLocal(to as LocalRef, opts.store);
      const tag = layoutName(to as LocalRef) ?? (to.transport === 'oci' ? 'latest' : false);
      const res = await pullImage(dest, from, { ...opts, tag });
      return { digest: res.descriptor.digest, mediaType: res.descriptor.mediaType, size: res.descriptor.size, bytesCopied: res.bytesDownloaded };
    }
    const source = await openLocal(from, opts.store);
    const desc = await resolveLocal(source, from);
    if (to.transport === 'docker') {
      const res = await pushImage(source, desc.digest, to, opts);
      return { digest: res.digest, mediaType: res.mediaType, size: res.size, bytesCopied: res.bytesUploaded };
    }
    const dest = await openLocal(to, opts.store);
    const bytesCopied = dest === source ? 0 : await copyLocal(source, dest, desc);
    const name = layoutName(to) ?? (to.transport === 'oci' ? 'latest' : undefined);
    if (name) await dest.tag(name, desc);
    emit({ event: 'image', ref: formatRef(to), digest: desc.digest });
    return { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, bytesCopied };
  } catch (e) {
    throw wrap(what, e);
  }
}

export interface RemoteImage {
  /** `docker://host/repo:tag` */
  name: string;
  /** Digest of what the reference points at (the index, for a multi-platform image). */
  digest: string;
  mediaType: string;
  /** The exact bytes the registry serves for the reference (`ib inspect --raw`). */
  raw: Buffer;
  index?: Index;
  /** The chosen image's manifest and its digest. */
  manifest: Manifest;
  manifestDigest: string;
  config: ImageConfig;
  configRaw: Buffer;
  /** The JSON `ib inspect` prints: the same shape as for an image of the local store. */
  toJSON(): InspectJson;
}

export interface InspectJson {
  name: string;
  digest: string;
  manifestDigest: string;
  mediaType: string;
  created?: string;
  architecture: string;
  os: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  layers: { digest: string; diffId?: string; size: number; mediaType: string; createdBy?: string }[];
  size: number;
}

function inspectJson(r: Omit<RemoteImage, 'toJSON'>): InspectJson {
  const history = r.config.history?.filter((h) => !h.empty_layer) ?? [];
  return {
    name: r.name, digest: r.digest, manifestDigest: r.manifestDigest, mediaType: r.mediaType,
    created: r.config.created, architecture: r.config.architecture, os: r.config.os,
    labels: r.config.config?.Labels ?? {}, annotations: r.manifest.annotations ?? {},
    layers: r.manifest.layers.map((l, i) => ({
      digest: l.digest, diffId: r.config.rootfs.diff_ids[i], size: l.size, mediaType: l.mediaType, createdBy: history[i]?.created_by,
    })),
    size: r.manifest.layers.reduce((a, l) => a + l.size, 0),
  };
}

/** Read a remote image's manifest and config without pulling its layers. */
export async function inspectRemote(ref: string | ImageRef, opts: RegistryOptions & PullTuning = {}): Promise<RemoteImage> {
  const r = dockerRef(ref);
  return withSession(opts, async (s) => {
    const client = new RepoClient(s.connection(r.registry), r.repository);
    const top = await client.getManifest(r.digest ?? r.tag ?? 'latest');
    const { remote, manifest } = await fetchImageManifest(client, { ...r, digest: top.digest, tag: undefined }, opts.platform);
    const configRaw = await readSmallBlob(client, manifest.config);
    const config = ImageConfig.safeParse(JSON.parse(configRaw.toString('utf8')));
    if (!config.success) {
      throw new RegistryError({ method: 'GET', url: formatRef(r), code: 'MANIFEST_INVALID', message: `config ${manifest.config.digest}: ${config.error.issues[0]?.message ?? 'invalid'}` });
    }
    const index = isIndexMediaType(top.mediaType) ? Index.parse(JSON.parse(top.bytes.toString('utf8'))) : undefined;
    const out = {
      name: formatRef(r), digest: top.digest, mediaType: top.mediaType, raw: top.bytes, index,
      manifest, manifestDigest: remote.digest, config: config.data, configRaw,
    };
    return { ...out, toJSON: () => inspectJson(out) };
  }).catch((e: unknown) => {
    throw wrap(`inspecting ${formatRef(r)}`, e);
  });
}

async function readSmallBlob(client: RepoClient, d: Descriptor): Promise<Buffer> {
  if (d.size > 16 * 1024 * 1024) throw new IbError(`config blob ${d.digest} is ${d.size} bytes; refusing to read it into memory`);
  const { body } = await client.getBlob(d.digest);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  if (buf.length !== d.size || sha256(buf) !== d.digest) {
    throw new RegistryError({ method: 'GET', url: `blob ${d.digest}`, code: 'DIGEST_INVALID', message: `got ${buf.length} bytes hashing to ${sha256(buf)}` });
  }
  return buf;
}
export { login, logout, loginFile, checkCredentials } from './login.js';
export { readRegistryCache, writeRegistryCache, fetchCachedLayer, CacheStep, CACHE_ARTIFACT_TYPE, type CacheOptions } from './cache.js';
