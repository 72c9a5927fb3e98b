/**
 * The distribution client against the real docker-registry, with a real TCP proxy in front that
 * drops connections and answers 500/429. No store involved: blobs come from memory.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/types.js';
import { RepoClient } from '../../src/registry/client.js';
import { RegistrySession } from '../../src/registry/connection.js';
import { RegistryError } from '../../src/registry/errors.js';
import { remoteBlobStream } from '../../src/registry/pull.js';
import { uploadBlob, type BlobSource } from '../../src/registry/upload.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

/** Deterministic incompressible bytes (no randomness in tests either). */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function source(data: Buffer): BlobSource {
  return { size: data.length, open: (a, b) => Readable.from([data.subarray(a, b)], { objectMode: false }) };
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let reg: TestRegistry;
let proxy: FaultProxy;
let session: RegistrySession;
const FAST = { attempts: 5, baseDelayMs: 10, maxDelayMs: 50 };

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.address);
  session = new RegistrySession({ retry: FAST });
});
afterAll(async () => {
  await session?.close();
  await proxy?.close();
  await reg?.stop();
});

describe('registry client', () => {
  it('uploads a blob and a manifest, and reads the manifest back byte for byte', async () => {
    const c = new RepoClient(session.connection(reg.address), 'client/basic');
    const data = bytes(5000, 'basic');
    const d = sha256(data);
    expect(await c.headBlob(d)).toBeUndefined();
    const r = await uploadBlob(c, d, source(data));
    expect(r).toEqual({ mounted: false, bytes: 5000, restarts: 0, resumes: 0 });
    expect(await c.headBlob(d)).toBe(5000);
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    await uploadBlob(c, sha256(config), source(config));
    // Odd whitespace on purpose: the registry must keep the bytes, not re-serialise them.
    const manifest = Buffer.from(`{"schemaVersion":2,  "mediaType":"${MediaType.manifest}","config":{"mediaType":"${MediaType.config}","digest":"${sha256(config)}","size":${config.length}},"layers":[{"mediaType":"${MediaType.layerGzip}","digest":"${d}","size":5000}]}\n`);
    expect(await c.putManifest('v1', manifest, MediaType.manifest)).toBe(sha256(manifest));
    const got = await c.getManifest('v1');
    expect(got.bytes.equals(manifest)).toBe(true);
    expect(got.digest).toBe(sha256(manifest));
    expect(got.mediaType).toBe(MediaType.manifest);
    expect(await c.headManifest('v1')).toEqual({ digest: sha256(manifest), mediaType: MediaType.manifest, size: manifest.length });
    expect(await c.listTags()).toEqual(['v1']);
  });

  it('keeps the spec error code, the method and the URL in errors', async () => {
    const c = new RepoClient(session.connection(reg.address), 'client/basic');
    const err = await c.getManifest('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toBe(`GET http://${reg.address}/v2/client/basic/manifests/nope: 404 MANIFEST_UNKNOWN: manifest unknown ({"Tag":"nope"})`);
    expect((err as RegistryError).hint).toBe('check the tag or digest: the registry has no such manifest in this repository');
    const bad = await c.putManifest('x', Buffer.from('{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:' + '0'.repeat(64) + '","size":1},"layers":[]}'), MediaType.manifest).catch((e: unknown) => e);
    expect((bad as RegistryError).code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((bad as RegistryError).message).toMatch(/^PUT http:\/\/127\.0\.0\.1:\d+\/v2\/client\/basic\/manifests\/x: 400 MANIFEST_BLOB_UNKNOWN: blob unknown to registry/);
  });

  it('resumes a chunked upload from the registry\'s offset when a chunk is dropped before it arrives', async () => {
    const c = new RepoClient(session.connection(proxy.address), 'client/resume');
    const data = bytes(1024 * 1024, 'resume');
    const d = sha256(data);
    const before = proxy.requests.length;
    proxy.addRule({ method: 'PATCH', times: 1, skip: 2, fault: { resetBeforeBody: true } });
    const r = await uploadBlob(c, d, source(data), { monolithicMax: 1024, chunkSize: 256 * 1024 });
    expect(r).toEqual({ mounted: false, bytes: data.length, restarts: 0, resumes: 1 });
    // (The connection's first request is its `GET /v2/` ping.)
    const mine = proxy.requests.slice(before).filter((q) => q.path !== '/v2/');
    expect(mine.map((q) => `${q.method} ${q.fault ?? ''}`.trim())).toEqual([
      'POST', 'PATCH', 'PATCH', 'PATCH resetBeforeBody', 'GET', 'PATCH', 'PATCH', 'PUT',
    ]);
    // Every byte crossed the proxy exactly once: nothing was re-sent.
    expect(mine.filter((q) => q.method === 'PATCH').reduce((a, q) => a + q.bodyBytes, 0)).toBe(data.length);
    expect((await readAll((await c.getBlob(d)).body)).equals(data)).toBe(true);
  });

  it('starts the blob over when a chunk is cut mid-body (distribution 2.8 then cancels the session)', async () => {
    const c = new RepoClient(session.connection(proxy.address), 'client/cut');
    const data = bytes(1024 * 1024, 'cut');
    const d = sha256(data);
    const before = proxy.requests.length;
    proxy.addRule({ method: 'PATCH', times: 1, skip: 1, fault: { resetAfterBodyBytes: 100_000 } });
    const r = await uploadBlob(c, d, source(data), { monolithicMax: 1024, chunkSize: 256 * 1024 });
    expect(r.restarts).toBe(1);
    const mine = proxy.requests.slice(before);
    expect(mine.filter((q) => q.fault).map((q) => q.fault)).toEqual(['resetAfterBodyBytes']);
    expect(await c.headBlob(d)).toBe(data.length);
    expect((await readAll((await c.getBlob(d)).body)).equals(data)).toBe(true);
  });

  it('retries 500 and honours Retry-After on 429', async () => {
    const c = new RepoClient(session.connection(proxy.address), 'client/flaky');
    const data = bytes(3000, 'flaky');
    const d = sha256(data);
    proxy.addRule({ method: 'HEAD', times: 2, fault: { respond: { status: 500 } } });
    proxy.addRule({ method: 'POST', times: 1, fault: { respond: { status: 429, headers: { 'retry-after': '1' } } } });
    proxy.addRule({ method: 'PUT', times: 1, fault: { respond: { status: 503 } } });
    const t0 = Date.now();
    expect(await c.headBlob(d)).toBeUndefined();
    const r = await uploadBlob(c, d, source(data));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(r.bytes).toBe(3000);
    expect(await c.headBlob(d)).toBe(3000);
  });

  it('gives up after the retry budget with the last error', async () => {
    const s = new RegistrySession({ retry: { attempts: 3, baseDelayMs: 5 } });
    try {
      const c = new RepoClient(s.connection(proxy.address), 'client/down');
      proxy.addRule({ method: 'GET', path: /client\/down/, times: 3, fault: { respond: { status: 502, body: '<html>bad gateway</html>' } } });
      const err = await c.getManifest('v1').catch((e: unknown) => e);
      expect((err as RegistryError).message).toBe(`GET http://${proxy.address}/v2/client/down/manifests/v1: 502 HTTP: <html>bad gateway</html>`);
      expect(proxy.requests.filter((q) => q.path.includes('client/down')).length).toBe(3);
    } finally {
      await s.close();
    }
  });

  it('resumes a download with a Range request after the connection drops mid-blob', async () => {
    const direct = new RepoClient(session.connection(reg.address), 'client/pull');
    const data = bytes(2 * 1024 * 1024, 'pull');
    const d = sha256(data);
    await uploadBlob(direct, d, source(data));
    const c = new RepoClient(session.connection(proxy.address), 'client/pull');
    proxy.addRule({ method: 'GET', path: /blobs\/sha256/, times: 1, fault: { resetAfterResponseBytes: 700_000 } });
    const before = proxy.requests.length;
    const got = await readAll(remoteBlobStream(c, { mediaType: MediaType.layerGzip, digest: d, size: data.length }));
    expect(got.equals(data)).toBe(true);
    const gets = proxy.requests.slice(before).filter((q) => q.method === 'GET');
    expect(gets.length).toBe(2);
    // The second request only fetched what was missing.
    expect(gets[1]!.responseBytes).toBeLessThan(data.length - 600_000);
  });
});
