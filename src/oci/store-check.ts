/**
 * The integrity check of the local store (`ib store check`): every blob hashes to its name, every
 * reference from index.json through indexes and manifests to configs and layers finds its blob
 * (with the size the descriptor says), blobs/sha256 holds nothing but blobs, and no temp file of
 * a process that is gone lingers in `.ingest/` (nor, given the cache's `layers/` dir, a half
 * extracted layer). Read-only unless `repair`: that deletes corrupt blobs and dead processes'
 * temp files — nothing else — and reports what the deletions leave missing.
 */
import { createReadStream, type Dirent } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { IbError } from '../errors.js';
import { pidAlive, withLock } from '../exec/lock.js';
import { HashingStream } from './digest.js';
import { DIGEST_RE, Index, isIndexMediaType, isManifestMediaType } from './types.js';

export type StoreProblemKind = 'layout' | 'index' | 'dangling' | 'size' | 'unreadable' | 'corrupt' | 'stray' | 'stale-ingest' | 'stale-extract';

export interface StoreProblem {
  kind: StoreProblemKind;
  /** A blob digest, or a path relative to the store root (the cache dir for `stale-extract`). */
  subject: string;
  message: string;
  /** What to do about it. */
  hint: string;
}

export interface StoreCheck {
  root: string;
  /** Files in blobs/sha256 named like a digest, and their bytes. */
  blobs: number;
  bytes: number;
  /** Entries of index.json. */
  images: number;
  /** Blobs nothing in index.json reaches (build-cache layers, pulls cut short): `ib prune`'s. */
  unreferenced: number;
  problems: StoreProblem[];
  /** With `repair`: the problems whose files were deleted. */
  repaired: StoreProblem[];
}

export interface CheckOptions {
  /** The cache's unpacked-layer dir: also look for extractions of dead processes there. */
  layersDir?: string;
  /** Delete corrupt blobs, stale ingest temps and stale extractions. */
  repair?: boolean;
}

interface Ref {
  digest: string;
  mediaType?: string;
  size?: number;
  /** What it is to its referrer: manifest, config, layer. */
  role: string;
  /** The index.json entry it hangs under: its ref name, or the root manifest's digest. */
  image: string;
}

const KIND_ORDER: StoreProblemKind[] = ['layout', 'index', 'corrupt', 'dangling', 'size', 'unreadable', 'stray', 'stale-ingest', 'stale-extract'];
function byKind(a: StoreProblem, b: StoreProblem): number {
  return KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0);
}

const MAX_DOC = 4 * 1024 * 1024;

function imageHint(images: Iterable<string>): string {
  const names = [...new Set(images)].sort().map((n) => (n.startsWith('sha256:') ? `the untagged image ${n}` : n));
  if (names.length === 1) return `ib pull ${names[0]} again if it came from a registry, or rebuild it (ib rm ${names[0]} drops it)`;
  return `pull again or rebuild ${names.join(', ')} (ib pull NAME for images from a registry; ib rm NAME drops one)`;
}

async function hashFile(path: string): Promise<{ digest: string; bytes: number } | undefined> {
  const h = new HashingStream();
  try {
    await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), h, async (src: AsyncIterable<Buffer>) => {
      for await (const _ of src) { /* hashed on the way */ }
    });
  } catch (e) {
    // Pruned or replaced by another ib meanwhile: nothing to judge.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return { digest: h.digest(), bytes: h.bytes };
}

/** The descriptors a manifest or index document points at. */
function childRefs(doc: Record<string, unknown>, image: string): Ref[] {
  const out: Ref[] = [];
  const take = (d: unknown, role: string) => {
    const x = d as { digest?: unknown; mediaType?: unknown; size?: unknown } | undefined;
    if (!x || typeof x.digest !== 'string') return;
    out.push({ digest: x.digest, mediaType: typeof x.mediaType === 'string' ? x.mediaType : undefined, size: typeof x.size === 'number' ? x.size : undefined, role, image });
  };
  if (Array.isArray(doc.manifests)) doc.manifests.forEach((m) => take(m, 'manifest'));
  if (doc.config) take(doc.config, 'config');
  if (Array.isArray(doc.layers)) doc.layers.forEach((l) => take(l, 'layer'));
  return out;
}

/** Follow index.json down to every config and layer; record who uses which blob. */
async function walk(root: string, index: Index, problems: StoreProblem[]): Promise<Map<string, Set<string>>> {
  const users = new Map<string, Set<string>>();
  const queue: Ref[] = index.manifests.map((m) => ({
    digest: m.digest, mediaType: m.mediaType, size: m.size, role: 'manifest', image: m.annotations?.['org.opencontainers.image.ref.name'] ?? m.digest,
  }));
  const seen = new Set<string>();
  while (queue.length > 0) {
    const r = queue.shift()!;
    const key = `${r.image}\0${r.digest}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (!DIGEST_RE.test(r.digest)) {
      problems.push({ kind: 'dangling', subject: r.digest, message: `image ${r.image} references ${r.role} ${JSON.stringify(r.digest)}, which is not a sha256 digest ib can store`, hint: imageHint([r.image]) });
      continue;
    }
    if (!users.has(r.digest)) users.set(r.digest, new Set());
    users.get(r.digest)!.add(r.image);
    const path = join(root, 'blobs', 'sha256', r.digest.slice(7));
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) {
      problems.push({ kind: 'dangling', subject: r.digest, message: `image ${r.image} references ${r.role} ${r.digest}, which is not in the store`, hint: imageHint([r.image]) });
      continue;
    }
    if (r.size !== undefined && st.size !== r.size) {
      problems.push({ kind: 'size', subject: r.digest, message: `image ${r.image} says its ${r.role} ${r.digest} has ${r.size} bytes; the blob has ${st.size}`, hint: imageHint([r.image]) });
    }
    const isDoc = isIndexMediaType(r.mediaType) || isManifestMediaType(r.mediaType) || (r.role === 'manifest' && r.mediaType === undefined);
    if (!isDoc) continue;
    let doc: unknown;
    try {
      if (st.size > MAX_DOC) throw new Error(`${st.size} bytes is too big for a manifest`);
      doc = JSON.parse(await readFile(path, 'utf8'));
      if (!doc || typeof doc !== 'object') throw new Error('not a JSON object');
    } catch (e) {
      problems.push({ kind: 'unreadable', subject: r.digest, message: `${r.role} ${r.digest} of image ${r.image} cannot be read: ${(e as Error).message}`, hint: imageHint([r.image]) });
      continue;
    }
    queue.push(...childRefs(doc as Record<string, unknown>, r.image));
  }
  return users;
}

/** index.json, zod-checked; what is wrong with it is a problem of its own (nothing can be walked). */
async function readIndex(root: string, problems: StoreProblem[]): Promise<Index | undefined> {
  let raw: string;
  try {
    raw = await readFile(join(root, 'index.json'), 'utf8');
  } catch (e) {
    problems.push({ kind: 'index', subject: 'index.json', message: `index.json cannot be read: ${(e as Error).message}`, hint: 'restore index.json, or move the store away and pull or rebuild its images' });
    return undefined;
  }
  let r: ReturnType<typeof Index.safeParse>;
  try {
    r = Index.safeParse(JSON.parse(raw));
  } catch (e) {
    problems.push({ kind: 'index', subject: 'index.json', message: `index.json is not JSON: ${(e as Error).message}`, hint: 'restore index.json, or move the store away and pull or rebuild its images' });
    return undefined;
  }
  if (!r.success) {
    const i = r.error.issues[0];
    problems.push({ kind: 'index', subject: 'index.json', message: `index.json is not a valid OCI index: ${i ? `.${i.path.join('.')}: ${i.message}` : r.error.message}`, hint: 'restore index.json, or move the store away and pull or rebuild its images' });
    return undefined;
  }
  return r.data;
}

async function entries(dir: string): Promise<Dirent[]> {
  return readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
}

/** Temp names start with the writer's pid: `.ingest/<pid>-<n>-<rand>`, `layers/.<hex>.extract-<pid>-…`. */
function deadPid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && !pidAlive(pid);
}

export async function checkStore(root: string, opts: CheckOptions = {}): Promise<StoreCheck> {
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw new IbError(`there is no store at ${root}`, { hint: 'give the store with --store DIR or --cache-dir DIR' });
  const problems: StoreProblem[] = [];

  const layout = await readFile(join(root, 'oci-layout'), 'utf8').then((s) => JSON.parse(s) as { imageLayoutVersion?: unknown }, () => undefined);
  if (layout?.imageLayoutVersion !== '1.0.0') {
    problems.push({ kind: 'layout', subject: 'oci-layout', message: `oci-layout is missing or not {"imageLayoutVersion":"1.0.0"}`, hint: 'this is not an OCI image layout of ib\'s: check --store or --cache-dir' });
  }

  // The walk is short (small JSON reads, stats): under the store lock, so an `ib rm` + `ib prune`
  // running meanwhile cannot look like a dangling reference. A full disk or a read-only store
  // cannot take the lock; then walk without it.
  let index: Index | undefined;
  let users = new Map<string, Set<string>>();
  const walkAll = async () => {
    const found: StoreProblem[] = [];
    index = await readIndex(root, found);
    users = index ? await walk(root, index, found) : new Map();
    problems.push(...found);
  };
  try {
    await withLock(join(root, '.lock'), walkAll, `the store lock of ${root}`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT' && code !== 'EROFS' && code !== 'EACCES') throw e;
    await walkAll();
  }

  // Every blob, hashed as a stream (layers run to gigabytes), two at a time.
  const blobDir = join(root, 'blobs', 'sha256');
  const names: string[] = [];
  for (const e of await entries(blobDir)) {
    if (e.isFile() && /^[a-f0-9]{64}$/.test(e.name)) names.push(e.name);
    else problems.push({ kind: 'stray', subject: `blobs/sha256/${e.name}`, message: `blobs/sha256/${e.name} is not a blob (blobs are files named by their sha256)`, hint: 'ib did not write it: move it out of the store' });
  }
  let blobs = 0;
  let bytes = 0;
  let unreferenced = 0;
  /** Corrupt blobs and their sizes (a repair takes them off the totals). */
  const corrupt = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const hex = names[next++]!;
      const got = await hashFile(join(blobDir, hex));
      if (!got) continue;
      const digest = `sha256:${hex}`;
      blobs++;
      bytes += got.bytes;
      const used = users.get(digest);
      if (!used) unreferenced++;
      if (got.digest !== digest) {
        corrupt.set(digest, got.bytes);
        problems.push({
          kind: 'corrupt',
          subject: digest,
          message: `blob ${digest} is corrupt: its ${got.bytes} bytes hash to ${got.digest}${used ? `; image ${[...used].sort().join(', ')} uses it` : ''}`,
          hint: `ib store check --repair deletes it${used ? `; then ${imageHint(used)}` : ''}`,
        });
      }
    }
  };
  await Promise.all([worker(), worker()]);

  for (const e of await entries(join(root, '.ingest'))) {
    const pid = Number(/^(\d+)-/.exec(e.name)?.[1] ?? NaN);
    if (!Number.isInteger(pid)) {
      problems.push({ kind: 'stray', subject: `.ingest/${e.name}`, message: `.ingest/${e.name} is not a temp file of ib's (those are named <pid>-…)`, hint: 'ib did not write it: move it out of the store' });
    } else if (deadPid(pid)) {
      problems.push({ kind: 'stale-ingest', subject: `.ingest/${e.name}`, message: `.ingest/${e.name} is a temp file of pid ${pid}, which is no longer running`, hint: 'ib store check --repair or ib prune deletes it' });
    }
  }
  if (opts.layersDir) {
    for (const e of await entries(opts.layersDir)) {
      const m = /^\.[a-f0-9]{64}\.extract-(\d+)-/.exec(e.name);
      if (m && deadPid(Number(m[1]))) {
        problems.push({ kind: 'stale-extract', subject: `layers/${e.name}`, message: `layers/${e.name} is a layer half unpacked by pid ${m[1]}, which is no longer running`, hint: 'ib store check --repair deletes it (the next use of that layer does too)' });
      }
    }
  }

  // A truncated or corrupt blob also fails its size and its parse: the corrupt line says it all.
  const all = problems.filter((p) => !((p.kind === 'size' || p.kind === 'unreadable') && corrupt.has(p.subject)));
  const report: StoreCheck = { root, blobs, bytes, images: index?.manifests.length ?? 0, unreferenced, problems: all.sort(byKind), repaired: [] };
  return opts.repair ? repair(report, users, corrupt, opts.layersDir) : report;
}

/** Delete what is safe to delete; a deleted blob that an image uses becomes a missing one. */
async function repair(report: StoreCheck, users: Map<string, Set<string>>, corrupt: Map<string, number>, layersDir?: string): Promise<StoreCheck> {
  const left: StoreProblem[] = [];
  const repaired: StoreProblem[] = [];
  for (const p of report.problems) {
    if (p.kind === 'corrupt') await rm(join(report.root, 'blobs', 'sha256', p.subject.slice(7)), { force: true });
    else if (p.kind === 'stale-ingest') await rm(join(report.root, p.subject), { force: true });
    else if (p.kind === 'stale-extract' && layersDir) await rm(join(layersDir, p.subject.slice('layers/'.length)), { recursive: true, force: true });
    else {
      left.push(p);
      continue;
    }
    repaired.push(p);
    if (p.kind !== 'corrupt') continue;
    report.blobs--;
    report.bytes -= corrupt.get(p.subject) ?? 0;
    if (!users.has(p.subject)) report.unreferenced--;
    for (const image of [...(users.get(p.subject) ?? [])].sort()) {
      left.push({ kind: 'dangling', subject: p.subject, message: `image ${image} uses blob ${p.subject}, which was corrupt and is deleted`, hint: imageHint([image]) });
    }
  }
  return { ...report, problems: left.sort(byKind), repaired };
}
