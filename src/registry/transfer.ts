/**
 * Moving images: push from the store, pull into it, and copy between any two transports
 * (registry, store, oci: layout, Docker/Podman engine). Every function opens its own
 * RegistrySession (sockets, token cache) and closes it, unless the caller passes one to share.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IbError, UsageError, wrap } from '../errors.js';
import { emit } from '../log.js';
import { Store, type Descriptor } from '../oci/index.js';
import type { EngineOptions } from '../engine/index.js';
import { RegistrySession, type ConnectionOptions } from './connection.js';
import { copyBetweenRegistries, type CopyResult, type CopyTuning } from './copy.js';
import { pullToStore, type PullResult, type PullTuning } from './pull.js';
import { pushFromStore, type PushResult, type PushTuning } from './push.js';
import { formatRef, parseDockerRef, parseRef, storeNameOf, type DockerRef, type ImageRef } from './reference.js';
import type { LocalStore } from './store-port.js';
import { copyLocal, layoutName, openLocal, resolveLocal, type LocalRef } from './layout.js';

export interface RegistryOptions extends ConnectionOptions {
  /** Share sockets and tokens across calls; the caller closes it. */
  session?: RegistrySession;
}

export async function withSession<T>(opts: RegistryOptions, fn: (s: RegistrySession) => Promise<T>): Promise<T> {
  if (opts.session) return fn(opts.session);
  const s = new RegistrySession(opts);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export function dockerRef(ref: string | ImageRef): DockerRef {
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
 * or oci: layout, store ↔ oci: layout (an `oci:` destination without a tag is tagged `latest`),
 * and a Docker/Podman engine (`docker-daemon:`) to or from any of them.
 */
export async function copyImage(
  src: string | ImageRef,
  dst: string | ImageRef,
  opts: RegistryOptions & CopyTuning & PushTuning & { store?: LocalStore; engine?: EngineOptions } = {},
): Promise<CopyResult> {
  const from = typeof src === 'string' ? parseRef(src) : src;
  const to = typeof dst === 'string' ? parseRef(dst) : dst;
  const what = `copying ${formatRef(from)} to ${formatRef(to)}`;
  try {
    if (from.transport === 'docker-daemon' || to.transport === 'docker-daemon') return await copyWithEngine(from, to, opts);
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

/**
 * Copies that involve a Docker/Podman engine go through a store: the engine's image is saved
 * into it (or an image is gathered there) and loaded from it as a docker-archive. The local
 * store is used when given (its blobs are reused; the engine's are prunable), else a temp one.
 */
async function copyWithEngine(
  from: ImageRef,
  to: ImageRef,
  opts: RegistryOptions & CopyTuning & PushTuning & { store?: LocalStore; engine?: EngineOptions },
): Promise<CopyResult> {
  let tmp: string | undefined;
  const scratch = async (): Promise<Store> => {
    if (opts.store instanceof Store) return opts.store;
    tmp = await mkdtemp(join(tmpdir(), 'ib-engine-'));
    return Store.open(tmp);
  };
  try {
    // dockerode and its dependencies cost ~0.2 s to load: only copies that talk to an engine pay it.
    const { archiveFromStore, archiveToStore, connectEngine, familiarName, loadArchive, saveArchive } = await import('../engine/index.js');
    const engine = connectEngine(opts.engine);
    if (from.transport === 'docker-daemon') {
      const store = await scratch();
      const name = `${familiarName(from.name)}${from.digest ? `@${from.digest}` : `:${from.tag ?? 'latest'}`}`;
      const img = await archiveToStore(await saveArchive(engine, name), store);
      const res: CopyResult = { digest: img.descriptor.digest, mediaType: img.descriptor.mediaType, size: img.descriptor.size, bytesCopied: 0 };
      if (to.transport === 'docker') {
        const pushed = await pushImage(store, img.descriptor.digest, to, opts);
        return { ...res, bytesCopied: pushed.bytesUploaded };
      }
      if (to.transport === 'docker-daemon') throw new IbError('copying from the engine to the engine: use `docker tag`');
      const dest = await openLocal(to, opts.store);
      const bytesCopied = dest === store ? 0 : await copyLocal(store, dest, img.descriptor);
      const tag = layoutName(to) ?? (to.transport === 'oci' ? 'latest' : undefined);
      if (tag) await dest.tag(tag, img.descriptor);
      emit({ event: 'image', ref: formatRef(to), digest: img.descriptor.digest });
      return { ...res, bytesCopied };
    }
    if (to.transport !== 'docker-daemon') throw new IbError('unreachable');
    if (to.digest && !to.tag) throw new IbError(`${formatRef(to)}: an engine image needs a tag to be loaded under`, { hint: 'write docker-daemon:NAME:TAG' });
    let store: Store;
    let desc: Descriptor;
    let bytesCopied = 0;
    if (from.transport === 'docker') {
      store = await scratch();
      const pulled = await pullImage(store, from, { ...opts, tag: false });
      desc = pulled.descriptor;
      bytesCopied = pulled.bytesDownloaded;
    } else {
      const local = await openLocal(from, opts.store);
      if (!(local instanceof Store)) throw new IbError('loading into the engine needs the local store (an oci Store)');
      store = local;
      desc = await resolveLocal(local, from);
    }
    await loadArchive(engine, await archiveFromStore(store, desc.digest, `${familiarName(to.name)}:${to.tag ?? 'latest'}`));
    emit({ event: 'image', ref: formatRef(to), digest: desc.digest });
    return { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, bytesCopied };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

