/**
 * The distribution API of one repository, one method per endpoint
 * (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints). Each
 * method is one request through `Connection.send`; the push and pull algorithms are built on
 * top (upload.ts, push.ts, pull.ts).
 */
import type { Readable } from 'node:stream';
import { sha256, DIGEST_RE, MediaType } from '../oci/index.js';
import { header, type Connection, type RegistryResponse } from './connection.js';
import { RegistryError } from './errors.js';

export const MANIFEST_ACCEPT = [MediaType.manifest, MediaType.index, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');

/** Manifests are small; a bigger answer is a misbehaving server, not an image (containers/image caps at 4 MiB too). */
const MAX_MANIFEST = 4 * 1024 * 1024;

export interface RemoteManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export type UploadStart = { mounted: true } | { mounted: false; location: string };

export interface UploadProgress {
  location: string;
  /** Bytes the registry holds for this upload. */
  offset: number;
}

export class RepoClient {
  /**
   * `actions` are the token scope every request of this client asks for: a push reads and writes
   * with one `pull,push` token instead of fetching a second, pull-only one for its HEADs.
   */
  constructor(readonly conn: Connection, readonly repository: string, readonly actions: readonly ('pull' | 'push')[] = ['pull']) {}

  /** Writes need push even on a client made for reading. */
  private get push(): readonly ('pull' | 'push')[] {
    return this.actions.includes('push') ? this.actions : [...this.actions, 'push'];
  }

  private path(rest: string): string {
    return `/v2/${this.repository}/${rest}`;
  }

  /** The blob's size on the registry, or undefined when it has none. */
  async headBlob(digest: string): Promise<number | undefined> {
    const res = await this.conn.send({
      method: 'HEAD', path: this.path(`blobs/${digest}`), repository: this.repository, actions: this.actions,
      ok: [200, 404], notFound: 'BLOB_UNKNOWN',
    });
    await res.body.dump();
    if (res.status === 404) return undefined;
    return Number(header(res, 'content-length') ?? NaN);
  }

  /** The blob's bytes [offset, end); `start` is where the body really begins (a server may ignore Range). */
  async getBlob(digest: string, offset = 0, end?: number): Promise<{ body: Readable; start: number }> {
    const range = offset > 0 || end !== undefined ? { range: `bytes=${offset}-${end === undefined ? '' : end - 1}` } : undefined;
    const res = await this.conn.send({
      method: 'GET', path: this.path(`blobs/${digest}`), repository: this.repository, actions: this.actions,
      headers: range ?? {}, ok: [200, 206], notFound: 'BLOB_UNKNOWN',
    });
    let start = 0;
    if (res.status === 206) {
      const m = /bytes (\d+)-/.exec(header(res, 'content-range') ?? '');
      start = m ? Number(m[1]) : offset;
    }
    return { body: res.body, start };
  }

  async headManifest(reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const res = await this.conn.send({
      method: 'HEAD', path: this.path(`manifests/${reference}`), repository: this.repository, actions: this.actions,
      headers: { accept: MANIFEST_ACCEPT }, ok: [200, 404], notFound: 'MANIFEST_UNKNOWN',
    });
    await res.body.dump();
    if (res.status === 404) return undefined;
    const digest = header(res, 'docker-content-digest') ?? (DIGEST_RE.test(reference) ? reference : undefined);
    if (!digest) return undefined;
    return { digest, mediaType: contentType(res) ?? '', size: Number(header(res, 'content-length') ?? 0) };
  }

  /** The manifest's exact bytes, checked against the digest asked for (or announced). */
  async getManifest(reference: string): Promise<RemoteManifest> {
    const res = await this.conn.send({
      method: 'GET', path: this.path(`manifests/${reference}`), repository: this.repository, actions: this.actions,
      headers: { accept: MANIFEST_ACCEPT }, ok: [200], notFound: 'MANIFEST_UNKNOWN',
    });
    const bytes = await readLimited(res, MAX_MANIFEST);
    const digest = sha256(bytes);
    const expected = DIGEST_RE.test(reference) ? reference : header(res, 'docker-content-digest');
    if (expected && DIGEST_RE.test(expected) && expected !== digest) {
      throw new RegistryError({
        method: 'GET', url: res.url, status: 200, code: 'DIGEST_INVALID',
        message: `manifest digest is ${digest}, expected ${expected}`,
      });
    }
    let mediaType = contentType(res);
    try {
      const fromBody = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof fromBody === 'string') mediaType = fromBody;
    } catch {
      throw new RegistryError({ method: 'GET', url: res.url, status: 200, code: 'MANIFEST_INVALID', message: 'the manifest is not JSON' });
    }
    return { bytes, mediaType: mediaType ?? MediaType.manifest, digest };
  }

  /** PUT a manifest; returns the digest the registry computed (which must be ours). */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.conn.send({
      method: 'PUT', path: this.path(`manifests/${reference}`), repository: this.repository, actions: this.push,
      headers: { 'content-type': mediaType }, body: () => bytes, ok: [201, 200, 202], notFound: 'NAME_UNKNOWN',
    });
    await res.body.dump();
    const digest = sha256(bytes);
    const theirs = header(res, 'docker-content-digest');
    if (theirs && theirs !== digest) {
      throw new RegistryError({ method: 'PUT', url: res.url, status: res.status, code: 'DIGEST_INVALID', message: `registry stored ${theirs}, we sent ${digest}` });
    }
    return digest;
  }

  async deleteManifest(digest: string): Promise<void> {
    const res = await this.conn.send({
      method: 'DELETE', path: this.path(`manifests/${digest}`), repository: this.repository, actions: this.push,
      ok: [202, 200], notFound: 'MANIFEST_UNKNOWN',
    });
    await res.body.dump();
  }

  /**
   * Open an upload session, or mount the blob from another repository of the same registry (no
   * bytes move). A registry that cannot mount answers with a session instead (202).
   */
  async startUpload(mount?: { digest: string; from: string }): Promise<UploadStart> {
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const res = await this.conn.send({
      method: 'POST', path: this.path(`blobs/uploads/${q}`), repository: this.repository, actions: this.push,
      extraScopes: mount ? [`repository:${mount.from}:pull`] : [], headers: { 'content-length': '0' },
      ok: [201, 202], notFound: 'NAME_UNKNOWN',
    });
    await res.body.dump();
    if (res.status === 201 && mount) return { mounted: true };
    return { mounted: false, location: this.location(res) };
  }

  /** Send bytes [offset, offset+length) of the blob. Not retried here: the caller asks where to resume. */
  async patchChunk(location: string, offset: number, length: number, body: () => Readable): Promise<UploadProgress> {
    const res = await this.conn.send({
      method: 'PATCH', path: location, repository: this.repository, actions: this.push,
      headers: {
        'content-type': 'application/octet-stream',
        'content-range': `${offset}-${offset + length - 1}`,
        'content-length': String(length),
      },
      body, ok: [202], notFound: 'BLOB_UPLOAD_UNKNOWN', retry: false,
    });
    await res.body.dump();
    return { location: this.location(res), offset: rangeEnd(res) ?? offset + length };
  }

  /** Where an upload stands, as the registry sees it (resume point after a dropped connection). */
  async uploadStatus(location: string): Promise<UploadProgress> {
    const res = await this.conn.send({
      method: 'GET', path: location, repository: this.repository, actions: this.push,
      ok: [204, 200], notFound: 'BLOB_UPLOAD_UNKNOWN',
    });
    await res.body.dump();
    return { location: this.location(res, location), offset: rangeEnd(res) ?? 0 };
  }

  /** Close the upload with the blob's digest, sending the remaining bytes (or none). */
  async finishUpload(location: string, digest: string, rest?: { length: number; body: () => Readable }): Promise<void> {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    const res = await this.conn.send({
      method: 'PUT', path: u.toString(), repository: this.repository, actions: this.push,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(rest?.length ?? 0) },
      body: rest?.body, ok: [201, 204], notFound: 'BLOB_UPLOAD_UNKNOWN', retry: false,
    });
    await res.body.dump();
    const theirs = header(res, 'docker-content-digest');
    if (theirs && theirs !== digest) {
      throw new RegistryError({ method: 'PUT', url: res.url, status: res.status, code: 'DIGEST_INVALID', message: `registry stored ${theirs}, we sent ${digest}` });
    }
  }

  async cancelUpload(location: string): Promise<void> {
    const res = await this.conn.send({
      method: 'DELETE', path: location, repository: this.repository, actions: this.push,
      ok: [204, 200, 202, 404], retry: false,
    });
    await res.body.dump();
  }

  async listTags(): Promise<string[]> {
    const res = await this.conn.send({
      method: 'GET', path: this.path('tags/list'), repository: this.repository, actions: this.actions, ok: [200], notFound: 'NAME_UNKNOWN',
    });
    const j = JSON.parse((await readLimited(res, MAX_MANIFEST)).toString('utf8')) as { tags?: string[] | null };
    return j.tags ?? [];
  }

  private location(res: RegistryResponse, fallback?: string): string {
    const loc = header(res, 'location');
    if (!loc) {
      if (fallback) return fallback;
      throw new RegistryError({ method: 'POST', url: res.url, status: res.status, code: 'BLOB_UPLOAD_INVALID', message: 'the registry gave no upload Location' });
    }
    return new URL(loc, res.url).toString();
  }
}

function contentType(res: RegistryResponse): string | undefined {
  return header(res, 'content-type')?.split(';')[0]?.trim() || undefined;
}

/**
 * `Range: 0-N` → N+1 bytes held. distribution also answers `0-0` for an empty upload, so that one
 * is ambiguous and left to the caller (who knows what it sent).
 */
function rangeEnd(res: RegistryResponse): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
  if (!m || m[1] === '0') return undefined;
  return Number(m[1]) + 1;
}

async function readLimited(res: RegistryResponse, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body) {
    n += (c as Buffer).length;
    if (n > max) {
      res.body.destroy();
      throw new RegistryError({ method: 'GET', url: res.url, status: res.status, code: 'SIZE_INVALID', message: `answer larger than ${max} bytes` });
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
