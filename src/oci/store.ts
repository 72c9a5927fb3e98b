/**
 * The local store: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) that skopeo
 * (`oci:DIR:name`) and umoci read as is. Blobs are content-addressed and written temp + rename,
 * so a reader never sees half a blob; `index.json` changes under a store-wide lock (read, modify,
 * write temp, rename), so two ib processes tagging at once lose nothing.
 * Temp files live in `.ingest/` (same filesystem as `blobs/`, named by pid so prune can clear the
 * leftovers of a killed process); the lock file is `.lock`.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import { DISK_FULL_HINT, IbError, isDiskFull } from '../errors.js';
import { withLock as withLockFile } from '../exec/lock.js';
import { HashingStream, canonicalJson, sha256 } from './digest.js';
import { pruneStore } from './store-prune.js';
import { DIGEST_RE, Descriptor, Index, MediaType } from './types.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });

let ingestCounter = 0;

function badDigest(digest: string): IbError {
  return new IbError(`invalid digest ${JSON.stringify(digest.slice(0, 100))}`, { hint: 'digests look like sha256:<64 lowercase hex digits>' });
}

export class Store {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  /** Open the layout at `root`, creating it if missing. */
  static async open(root: string): Promise<Store> {
    const s = new Store(root);
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(root, '.ingest'), { recursive: true });
    await s.createOnce('oci-layout', LAYOUT);
    await s.createOnce('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.index, manifests: [] }));
    const layout = JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8')) as { imageLayoutVersion?: string };
    if (layout.imageLayoutVersion !== '1.0.0') {
      throw new IbError(`${root} is an OCI layout of version ${layout.imageLayoutVersion}, ib knows 1.0.0`, { hint: 'use another --store directory' });
    }
    return s;
  }

  /** Create a file atomically unless it exists: a reader sees nothing or all of it. */
  private async createOnce(name: string, content: string): Promise<void> {
    // Opening an existing store writes nothing: on a full disk the temp write made every
    // command fail, even `ib rm` and `ib prune` that would free space.
    if (await stat(join(this.root, name)).then(() => true, () => false)) return;
    const tmp = this.ingestPath();
    try {
      await writeFile(tmp, content);
      await link(tmp, join(this.root, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw this.writeFailed(e, name);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  blobPath(digest: string): string {
    if (!DIGEST_RE.test(digest)) throw badDigest(digest);
    return join(this.root, 'blobs', 'sha256', digest.slice(7));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return stat(this.blobPath(digest)).then((s) => s.isFile(), () => false);
  }

  openBlob(digest: string): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1024 * 1024 });
  }

  async blobSize(digest: string): Promise<number> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.missing(digest);
      throw e;
    }
  }

  private missing(digest: string): IbError {
    return new IbError(`blob ${digest} is not in the store ${this.root}`, { hint: 'pull or rebuild the image that uses it' });
  }

  /**
   * A write into the store that failed: a full disk becomes a sentence naming the store and what
   * to do (node's bare "ENOSPC: no space left on device, write" names neither); others pass.
   */
  writeFailed(err: unknown, what: string): unknown {
    if (!isDiskFull(err)) return err;
    return new IbError(`the store ${this.root} is full: no space left on its disk for ${what}`, { hint: DISK_FULL_HINT });
  }

  /** A fresh temp file path on the store's filesystem, for writers that `commitBlob` it. */
  ingestPath(): string {
    return join(this.root, '.ingest', `${process.pid}-${++ingestCounter}-${randomBytes(4).toString('hex')}`);
  }

  /** Move a temp file whose digest the caller computed into `blobs/`. */
  async commitBlob(tempPath: string, digest: string): Promise<void> {
    const dest = this.blobPath(digest);
    // rename replaces an existing blob with identical bytes: atomic, and refreshes its mtime
    // (prune's grace period counts from the last put).
    await rename(tempPath, dest);
  }

  /** Copy a stream into the store, hashing on the way; on a mismatch nothing is left behind. */
  async putBlob(src: Readable, expect: { digest?: string; size?: number } = {}): Promise<{ digest: string; size: number }> {
    if (expect.digest !== undefined && !DIGEST_RE.test(expect.digest)) throw badDigest(expect.digest);
    const tmp = this.ingestPath();
    const h = new HashingStream();
    try {
      await pipeline(src, h, createWriteStream(tmp, { flags: 'wx', mode: 0o644 })).catch((e: unknown) => {
        throw this.writeFailed(e, expect.digest ? `blob ${expect.digest}` : 'a blob');
      });
      const digest = h.digest();
      if (expect.size !== undefined && h.bytes !== expect.size) {
        throw new IbError(`blob ${expect.digest ?? digest} has ${h.bytes} bytes, expected ${expect.size}`, {
          hint: 'the source sent truncated or altered content; nothing was stored',
        });
      }
      if (expect.digest !== undefined && digest !== expect.digest) {
        throw new IbError(`blob content does not match its digest: expected ${expect.digest}, got ${digest}`, {
          hint: 'the source sent altered content (tampering or corruption); nothing was stored',
        });
      }
      await this.commitBlob(tmp, digest);
      return { digest, size: h.bytes };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Store a JSON document as canonical bytes (sorted keys, no whitespace). */
  async putJson(value: unknown, mediaType: string, annotations?: Record<string, string>): Promise<Descriptor> {
    const data = Buffer.from(canonicalJson(value));
    const digest = sha256(data);
    const path = this.blobPath(digest);
    if (await this.hasBlob(digest)) {
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
    } else {
      const tmp = this.ingestPath();
      try {
        await writeFile(tmp, data, { flag: 'wx', mode: 0o644 });
        await this.commitBlob(tmp, digest);
      } catch (e) {
        throw this.writeFailed(e, `blob ${digest}`);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    return { mediaType, digest, size: data.length, ...(annotations ? { annotations } : {}) };
  }

  async readJson<T>(digest: string, schema: z.ZodType<T>): Promise<T> {
    let data: Buffer;
    try {
      data = await readFile(this.blobPath(digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw this.missing(digest);
      throw e;
    }
    if (sha256(data) !== digest) {
      throw new IbError(`blob ${digest} in ${this.root} is corrupt: its content has another digest`, {
        hint: 'remove the file and pull or rebuild the image',
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString('utf8'));
    } catch (e) {
      throw new IbError(`blob ${digest} is not JSON: ${(e as Error).message}`);
    }
    const r = schema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new IbError(`blob ${digest} is not what was expected: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : r.error.message}`);
    }
    return r.data;
  }

  // ------------------------------------------------------------ index.json

  private indexPath(): string {
    return join(this.root, 'index.json');
  }

  /** The parsed index.json (callers that modify it hold the lock). */
  async readIndex(): Promise<Index> {
    const raw = await readFile(this.indexPath(), 'utf8');
    const r = Index.safeParse(JSON.parse(raw));
    if (!r.success) throw new IbError(`${this.indexPath()} is not a valid OCI index: ${r.error.issues[0]?.message}`);
    return r.data;
  }

  private async writeIndex(index: Index): Promise<void> {
    const tmp = this.ingestPath();
    try {
      await writeFile(tmp, JSON.stringify(index, null, 2) + '\n', { flag: 'wx', mode: 0o644 });
      await rename(tmp, this.indexPath());
    } catch (e) {
      throw this.writeFailed(e, 'index.json');
    } finally {
      await rm(tmp, { force: true });
    }
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    // Only taking the lock is a write of the lock file; what fn throws passes unchanged.
    let taken = false;
    return withLockFile(join(this.root, '.lock'), () => {
      taken = true;
      return fn();
    }, `the store lock of ${this.root}`).catch((e: unknown) => {
      throw taken ? e : this.writeFailed(e, 'its lock file');
    });
  }

  /** Point `name` at `desc` (replacing what it pointed at). */
  async tag(name: string, desc: Descriptor): Promise<void> {
    if (!name) throw new IbError('cannot tag with an empty name');
    const entry = Descriptor.parse({ ...desc, annotations: { ...(desc.annotations ?? {}), [REF_NAME]: name } });
    await this.withLock(async () => {
      const index = await this.readIndex();
      const others = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
      const manifests = [...others, entry].sort((a, b) => (refOrder(a) < refOrder(b) ? -1 : refOrder(a) > refOrder(b) ? 1 : 0));
      await this.writeIndex({ ...index, mediaType: MediaType.index, manifests });
    });
  }

  async resolve(name: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    return index.manifests.find((m) => m.annotations?.[REF_NAME] === name);
  }

  async list(): Promise<{ name: string; descriptor: Descriptor }[]> {
    const index = await this.readIndex();
    return index.manifests
      .filter((m) => m.annotations?.[REF_NAME] !== undefined)
      .map((m) => ({ name: m.annotations![REF_NAME]!, descriptor: m }));
  }

  async untag(name: string): Promise<boolean> {
    return this.withLock(async () => {
      const index = await this.readIndex();
      const manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
      if (manifests.length === index.manifests.length) return false;
      await this.writeIndex({ ...index, manifests });
      return true;
    });
  }

  /**
   * Delete blobs nothing reaches: index.json's manifests (with their config and layers, through
   * image indexes) and `extraRoots` (e.g. layers of cached build steps). Blobs put less than
   * `minAgeMs` ago are kept, so a build that has stored layers but not yet tagged its image is
   * not robbed. Temp files of processes that are gone are removed too.
   */
  async prune(extraRoots: string[] = [], opts: { minAgeMs?: number } = {}): Promise<{ removed: number; bytes: number }> {
    return this.withLock(() => pruneStore(this, extraRoots, opts.minAgeMs ?? 0));
  }

  /** Every blob digest present (for prune and integrity checks). */
  async blobDigests(): Promise<string[]> {
    const names = await readdir(join(this.root, 'blobs', 'sha256'));
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}

function refOrder(d: Descriptor): string {
  return d.annotations?.[REF_NAME] ?? `~${d.digest}`;
}
