/**
 * Push and pull of a real image through a TCP proxy that resets connections mid-blob and
 * answers 500/429 to the first requests: both complete, the registry ends up with the exact
 * image, and the store holds only verified blobs.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { pullImage, pushImage, RegistrySession } from '../../src/registry/index.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let reg: TestRegistry;
let proxy: FaultProxy;
let work: string;
let store: Store;
let image: TinyImage;
const retry = { attempts: 6, baseDelayMs: 20, maxDelayMs: 200 };

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.address);
  work = await mkdtemp(join(tmpdir(), 'ib-resilience-'));
  store = await Store.open(join(work, 'src'));
  image = await makeImage(store, [
    { 'etc/os-release': 'ID=resilient\n' },
    { 'opt/big.bin': 3 * 1024 * 1024 },
    { 'opt/mid.bin': 600 * 1024 },
  ]);
});
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function assertOnlyVerifiedBlobs(s: Store): Promise<void> {
  for (const d of await s.blobDigests()) {
    expect('sha256:' + createHash('sha256').update(await readFile(s.blobPath(d))).digest('hex')).toBe(d);
  }
  expect(await readdir(join(s.root, '.ingest'))).toEqual([]);
}

describe('through a faulty network', () => {
  it('pushes despite resets mid-chunk, dropped chunks, 500s and a 429', async () => {
    const big = image.manifest.layers[1]!;
    proxy.addRule({ method: 'HEAD', times: 2, fault: { respond: { status: 500 } } });
    proxy.addRule({ method: 'POST', times: 1, fault: { respond: { status: 429, headers: { 'retry-after': '1' } } } });
    proxy.addRule({ method: 'PATCH', times: 1, skip: 1, fault: { resetBeforeBody: true } });
    proxy.addRule({ method: 'PATCH', times: 1, skip: 2, fault: { resetAfterBodyBytes: 200_000 } });
    proxy.addRule({ method: 'PUT', path: /\/blobs\/uploads\//, times: 1, fault: { respond: { status: 503 } } });
    proxy.addRule({ method: 'PUT', path: /\/manifests\//, times: 1, fault: { respond: { status: 502 } } });
    const from = proxy.requests.length;
    const res = await pushImage(store, image.digest, `${proxy.address}/res/img:1`, {
      retry, jobs: 2, monolithicMax: 256 * 1024, chunkSize: 512 * 1024,
    });
    expect(res.digest).toBe(image.digest);
    const faults = proxy.requests.slice(from).filter((q) => q.fault).map((q) => `${q.method} ${q.fault}`).sort();
    expect(faults).toEqual([
      'HEAD respond', 'HEAD respond', 'PATCH resetAfterBodyBytes', 'PATCH resetBeforeBody',
      'POST respond', 'PUT respond', 'PUT respond',
    ]);
    // The registry has the exact manifest and every blob, as seen without the proxy.
    const raw = await fetch(`http://${reg.address}/v2/res/img/manifests/1`, { headers: { accept: image.descriptor.mediaType } });
    expect(Buffer.from(await raw.arrayBuffer()).equals(await readFile(store.blobPath(image.digest)))).toBe(true);
    for (const l of image.manifest.layers) {
      const r = await fetch(`http://${reg.address}/v2/res/img/blobs/${l.digest}`);
      const body = Buffer.from(await r.arrayBuffer());
      expect('sha256:' + createHash('sha256').update(body).digest('hex')).toBe(l.digest);
    }
    expect(big.size).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('pulls despite resets mid-blob and 500s, into a store that holds only verified blobs', async () => {
    proxy.clearRules();
    const big = image.manifest.layers[1]!;
    const bigPath = new RegExp(`/blobs/${big.digest}$`);
    proxy.addRule({ method: 'GET', path: /\/manifests\//, times: 1, fault: { respond: { status: 500 } } });
    proxy.addRule({ method: 'GET', path: bigPath, times: 2, fault: { resetAfterResponseBytes: 1_000_000 } });
    proxy.addRule({ method: 'GET', path: /\/blobs\/sha256:/, times: 1, fault: { respond: { status: 429, headers: { 'retry-after': '0' } } } });
    const dest = await Store.open(join(work, 'dest'));
    const session = new RegistrySession({ retry });
    try {
      const from = proxy.requests.length;
      const pulled = await pullImage(dest, `${proxy.address}/res/img:1`, { session });
      expect(pulled.descriptor.digest).toBe(image.digest);
      const mine = proxy.requests.slice(from);
      expect(mine.filter((q) => q.fault).map((q) => `${q.method} ${q.fault}`).sort()).toEqual([
        'GET resetAfterResponseBytes', 'GET resetAfterResponseBytes', 'GET respond', 'GET respond',
      ]);
      // The big blob came in three pieces (two cut at 1 MB, then the rest by Range): its bytes
      // crossed the proxy once, plus three response heads — not again from the start.
      const bigGets = mine.filter((q) => bigPath.test(q.path) && q.fault !== 'respond');
      expect(bigGets.length).toBe(3);
      const fetched = bigGets.reduce((a, q) => a + q.responseBytes, 0);
      expect(fetched).toBeGreaterThan(big.size);
      expect(fetched).toBeLessThan(big.size + 3 * 1024);
    } finally {
      await session.close();
    }
    expect((await dest.blobDigests()).sort()).toEqual([image.digest, image.manifest.config.digest, ...image.manifest.layers.map((l) => l.digest)].sort());
    await assertOnlyVerifiedBlobs(dest);
  });
});
