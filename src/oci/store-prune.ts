/**
 * Garbage collection of the local store: mark everything reachable from index.json and the
 * caller's extra roots (following image indexes → manifests → config + layers), sweep the rest.
 * Runs under the store lock, so no tag can appear halfway.
 */
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isIndexMediaType, isManifestMediaType } from './types.js';
import type { Store } from './store.js';
import { pidAlive } from '../exec/lock.js';

interface Ref {
  digest: string;
  mediaType?: string;
}


/** The blobs a manifest or index points at; nothing for layers and configs. */
async function children(store: Store, ref: Ref): Promise<Ref[]> {
  const known = isIndexMediaType(ref.mediaType) || isManifestMediaType(ref.mediaType);
  // Extra roots come without a media type: look inside small blobs to see what they are.
  if (!known && ref.mediaType !== undefined) return [];
  let doc: Record<string, unknown>;
  try {
    const size = await store.blobSize(ref.digest);
    if (size > 4 * 1024 * 1024) return [];
    doc = JSON.parse(await readFile(store.blobPath(ref.digest), 'utf8')) as Record<string, unknown>;
  } catch {
    return [];
  }
  if (!doc || typeof doc !== 'object') return [];
  const out: Ref[] = [];
  const take = (d: unknown) => {
    const x = d as { digest?: unknown; mediaType?: unknown } | undefined;
    if (x && typeof x.digest === 'string') out.push({ digest: x.digest, mediaType: typeof x.mediaType === 'string' ? x.mediaType : undefined });
  };
  if (Array.isArray(doc.manifests)) doc.manifests.forEach(take);
  if (doc.config) take(doc.config);
  if (Array.isArray(doc.layers)) doc.layers.forEach((l) => take({ ...(l as object), mediaType: 'layer' }));
  if (doc.subject) take(doc.subject);
  return out;
}

export async function pruneStore(store: Store, extraRoots: string[], minAgeMs: number): Promise<{ removed: number; bytes: number }> {
  const index = await store.readIndex();
  const queue: Ref[] = [...index.manifests.map((m) => ({ digest: m.digest, mediaType: m.mediaType })), ...extraRoots.map((d) => ({ digest: d }))];
  const keep = new Set<string>();
  while (queue.length > 0) {
    const r = queue.pop()!;
    if (keep.has(r.digest) || !/^sha256:[a-f0-9]{64}$/.test(r.digest)) continue;
    keep.add(r.digest);
    if (!(await store.hasBlob(r.digest))) continue;
    queue.push(...(await children(store, r)));
  }
  let removed = 0;
  let bytes = 0;
  const now = Date.now();
  for (const d of await store.blobDigests()) {
    if (keep.has(d)) continue;
    const path = store.blobPath(d);
    const st = await stat(path).catch(() => undefined);
    if (!st || now - st.mtimeMs < minAgeMs) continue;
    await rm(path, { force: true });
    removed++;
    bytes += st.size;
  }
  const ingest = join(store.root, '.ingest');
  for (const name of await readdir(ingest).catch(() => [] as string[])) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) await rm(join(ingest, name), { force: true });
  }
  return { removed, bytes };
}
