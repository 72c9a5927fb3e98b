/**
 * Push and pull between ib's store and the real docker-registry, and interop with skopeo both
 * ways. The registry's own access log proves what crossed the wire.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageChain } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { extractLayer } from '../../src/oci/index.js';
import { Store } from '../../src/oci/store.js';
import { copyImage, inspectRemote, pullImage, pushImage } from '../../src/registry/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { treeListing } from '../helpers/tree-listing.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let reg: TestRegistry;
let work: string;
let storeA: Store;
let image: TinyImage;

beforeAll(async () => {
  reg = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'ib-pushpull-'));
  storeA = await Store.open(join(work, 'a'));
  image = await makeImage(storeA, [
    { 'etc/os-release': 'ID=tiny\n', 'usr/bin/hello': '#!/bin/sh\necho hello\n' },
    { 'usr/share/data.bin': 300_000 },
  ], { tag: 'tiny:1' });
});
afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function blobFile(store: Store, digest: string): Promise<Buffer> {
  return readFile(store.blobPath(digest));
}

/** Every blob in the store hashes to its name, and no temp file is left over. */
async function assertStoreVerified(store: Store): Promise<number> {
  const digests = await store.blobDigests();
  for (const d of digests) {
    expect('sha256:' + createHash('sha256').update(await blobFile(store, d)).digest('hex')).toBe(d);
  }
  expect(await readdir(join(store.root, '.ingest'))).toEqual([]);
  return digests.length;
}

describe('push and pull', () => {
  it('pushes an image and pulls it into a fresh store with a byte-identical manifest', async () => {
    const ref = `${reg.address}/t/tiny:1`;
    const pushed = await pushImage(storeA, image.digest, ref);
    expect(pushed.digest).toBe(image.digest);
    expect(pushed.blobs.map((b) => b.state)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    expect(pushed.bytesUploaded).toBe(image.manifest.layers.reduce((a, l) => a + l.size, 0) + image.manifest.config.size);

    const storeB = await Store.open(join(work, 'b'));
    const pulled = await pullImage(storeB, ref);
    expect(pulled.descriptor).toEqual({ mediaType: image.descriptor.mediaType, digest: image.digest, size: image.descriptor.size });
    expect(pulled.name).toBe(`${reg.address}/t/tiny:1`);
    expect((await blobFile(storeB, image.digest)).equals(await blobFile(storeA, image.digest))).toBe(true);
    expect(await storeB.resolve(`${reg.address}/t/tiny:1`)).toMatchObject({ digest: image.digest });
    expect(await assertStoreVerified(storeB)).toBe(4);

    // A second pull finds every blob in the store and downloads nothing.
    const again = await pullImage(storeB, ref);
    expect(again.bytesDownloaded).toBe(0);
  });

  it('skopeo inspects what ib pushed', async () => {
    const r = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.address}/t/tiny:1`]);
    const j = JSON.parse(r.stdout) as { Digest: string; Layers: string[]; Labels: Record<string, string>; Architecture: string };
    expect(j.Digest).toBe(image.digest);
    expect(j.Layers).toEqual(image.manifest.layers.map((l) => l.digest));
    expect(j.Labels).toEqual({ 'org.example.test': 'tiny' });
    expect(j.Architecture).toBe('amd64');
  });

  it('inspectRemote reads manifest and config without pulling layers', async () => {
    const r = await inspectRemote(`docker://${reg.address}/t/tiny:1`);
    expect(r.digest).toBe(image.digest);
    expect(r.raw.equals(await blobFile(storeA, image.digest))).toBe(true);
    expect(r.config.config?.Labels).toEqual({ 'org.example.test': 'tiny' });
    expect(JSON.parse(JSON.stringify(r))).toMatchObject({
      name: `docker://${reg.address}/t/tiny:1`, digest: image.digest, architecture: 'amd64', os: 'linux',
      layers: [{ digest: image.manifest.layers[0]!.digest, createdBy: 'layer 0' }, { digest: image.manifest.layers[1]!.digest, createdBy: 'layer 1' }],
    });
  });

  it('a second push HEAD-skips every blob and uploads nothing', async () => {
    const from = reg.requests().length;
    const res = await pushImage(storeA, image.digest, `${reg.address}/t/tiny:2`);
    expect(res.bytesUploaded).toBe(0);
    expect(res.blobs.map((b) => b.state)).toEqual(['exists', 'exists', 'exists']);
    await new Promise((r) => setTimeout(r, 200));
    const log = reg.requests().slice(from).map((e) => `${e.method} ${e.status}`);
    expect(log.filter((l) => l.startsWith('POST') || l.startsWith('PATCH'))).toEqual([]);
    expect(log.filter((l) => l.startsWith('PUT'))).toEqual(['PUT 201']); // the manifest only
  });

  it('mounts blobs from a sibling repository instead of uploading them', async () => {
    const from = reg.requests().length;
    const res = await pushImage(storeA, image.digest, `${reg.address}/other/tiny:1`, { mountFrom: 't/tiny' });
    expect(res.bytesUploaded).toBe(0);
    expect(res.blobs.map((b) => b.state)).toEqual(['mounted', 'mounted', 'mounted']);
    await new Promise((r) => setTimeout(r, 200));
    const posts = reg.requests().slice(from).filter((e) => e.method === 'POST');
    expect(posts.map((e) => e.status)).toEqual([201, 201, 201]);
    expect(posts.every((e) => /\?mount=sha256%3A[0-9a-f]{64}&from=t%2Ftiny$/.test(e.uri))).toBe(true);
  });

  it('pushes by digest when the reference has no tag', async () => {
    const res = await pushImage(storeA, image.digest, `${reg.address}/t/bydigest@${image.digest}`);
    expect(res.digest).toBe(image.digest);
    const r = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.address}/t/bydigest@${image.digest}`]);
    expect(Buffer.from(r.stdout).equals(await blobFile(storeA, image.digest))).toBe(true);
  });

  it('pulls an image that skopeo pushed from an OCI layout', async () => {
    // The store is an OCI layout: skopeo reads it directly.
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${storeA.root}:tiny:1`, `docker://${reg.address}/sk/tiny:1`]);
    const storeC = await Store.open(join(work, 'c'));
    const pulled = await pullImage(storeC, `${reg.address}/sk/tiny:1`);
    const skopeoRaw = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.address}/sk/tiny:1`])).stdout;
    expect((await blobFile(storeC, pulled.descriptor.digest)).toString('utf8')).toBe(skopeoRaw);
    expect(pulled.manifest.layers.map((l) => l.digest)).toEqual(image.manifest.layers.map((l) => l.digest));
    expect(await assertStoreVerified(storeC)).toBe(4);
  });

  it('unpacks to the same tree as skopeo + umoci for an image skopeo pushed', async () => {
    const single = await makeImage(storeA, [{ 'etc/app/config': 'x=1\n', 'usr/bin/tool': '#!/bin/sh\n', 'var/lib/data.bin': 20_000 }], { tag: 'single:1' });
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${storeA.root}:single:1`, `docker://${reg.address}/sk/single:1`]);
    const storeS = await Store.open(join(work, 'single'));
    const pulled = await pullImage(storeS, `${reg.address}/sk/single:1`);
    expect(pulled.descriptor.digest).toBe(single.digest);
    const ibTree = join(work, 'ib-tree');
    await extractLayer(storeS, pulled.manifest.layers[0]!, ibTree);
    const layout = join(work, 'umoci-layout');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.address}/sk/single:1`, `oci:${layout}:s`]);
    await run('umoci', ['unpack', '--image', `${layout}:s`, join(work, 'umoci-bundle')]);
    const theirs = await treeListing(join(work, 'umoci-bundle/rootfs'));
    expect(await treeListing(ibTree)).toEqual(theirs);
    expect(theirs.get('var/lib/data.bin')).toMatch(/^file 644 0:0 20000 /);
  });

  it('copies registry to registry with blobs moved as they are', async () => {
    const reg2 = await startRegistry();
    try {
      const res = await copyImage(`docker://${reg.address}/t/tiny:1`, `docker://${reg2.address}/copy/tiny:1`);
      expect(res.digest).toBe(image.digest);
      const raw = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg2.address}/copy/tiny:1`])).stdout;
      expect(Buffer.from(raw).equals(await blobFile(storeA, image.digest))).toBe(true);
      // Same registry: every blob is mounted, no byte moves.
      const same = await copyImage(`docker://${reg2.address}/copy/tiny:1`, `docker://${reg2.address}/copy2/tiny:1`);
      expect(same.bytesCopied).toBe(0);
    } finally {
      await reg2.stop();
    }
  });

  it('a blob corrupted on the registry fails the pull and leaves nothing in the store', async () => {
    await pushImage(storeA, image.digest, `${reg.address}/bad/tiny:1`);
    const layer = image.manifest.layers[1]!;
    const hex = layer.digest.slice(7);
    const file = join(reg.storageDir, 'data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const orig = await readFile(file);
    const bad = Buffer.from(orig);
    bad[1000] = bad[1000]! ^ 0xff;
    await writeFile(file, bad);
    try {
      const storeD = await Store.open(join(work, 'd'));
      const err = await pullImage(storeD, `${reg.address}/bad/tiny:1`).catch((e: unknown) => e);
      expect(messageChain(err)).toEqual([
        `pulling docker://${reg.address}/bad/tiny:1`,
        `pulling blob ${layer.digest}`,
        `blob content does not match its digest: expected ${layer.digest}, got sha256:${createHash('sha256').update(bad).digest('hex')}`,
      ]);
      expect(await storeD.hasBlob(layer.digest)).toBe(false);
      expect(await storeD.hasBlob(image.digest)).toBe(false);
      expect(await storeD.resolve(`${reg.address}/bad/tiny:1`)).toBeUndefined();
      await assertStoreVerified(storeD);
    } finally {
      await writeFile(file, orig);
    }
  });

  it('names a missing tag with the registry error code and a hint', async () => {
    const storeE = await Store.open(join(work, 'e'));
    const err = await pullImage(storeE, `${reg.address}/t/tiny:nope`).catch((e: unknown) => e);
    expect(messageChain(err)).toEqual([
      `pulling docker://${reg.address}/t/tiny:nope`,
      `GET http://${reg.address}/v2/t/tiny/manifests/nope: 404 MANIFEST_UNKNOWN: manifest unknown ({"Tag":"nope"})`,
    ]);
    expect((err as { hint?: string }).hint).toBe('check the tag or digest: the registry has no such manifest in this repository');
  });
});
