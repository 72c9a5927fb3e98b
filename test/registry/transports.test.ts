/** copyImage between registry, store and oci: layouts, read back by skopeo; the registry build cache. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hintOf, messageChain } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { Store } from '../../src/oci/store.js';
import {
  copyImage, fetchCachedLayer, pushImage, readRegistryCache, writeRegistryCache, type CacheStep,
} from '../../src/registry/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let reg: TestRegistry;
let work: string;
let store: Store;
let image: TinyImage;

beforeAll(async () => {
  reg = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'ib-transports-'));
  store = await Store.open(join(work, 'store'));
  image = await makeImage(store, [{ 'etc/motd': 'transports\n' }, { 'opt/x.bin': 100_000 }], { tag: 'acme/base:1' });
});
afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const manifestBytes = (s: Store, d: string) => readFile(s.blobPath(d));

describe('copy between transports', () => {
  it('store → oci: layout that skopeo reads, and back into another store', async () => {
    const dir = join(work, 'layout1');
    const res = await copyImage('acme/base:1', `oci:${dir}:base`, { store });
    expect(res.digest).toBe(image.digest);
    const r = await run('skopeo', ['inspect', `oci:${dir}:base`]);
    expect((JSON.parse(r.stdout) as { Digest: string }).Digest).toBe(image.digest);
    const other = await Store.open(join(work, 'store2'));
    await copyImage(`oci:${dir}`, 'copied/base:7', { store: other });
    expect(await other.resolve('copied/base:7')).toMatchObject({ digest: image.digest });
    expect((await manifestBytes(other, image.digest)).equals(await manifestBytes(store, image.digest))).toBe(true);
  });

  it('registry → oci: layout, and an oci: layout written by skopeo → registry, byte for byte', async () => {
    await pushImage(store, image.digest, `${reg.address}/tr/base:1`);
    const dir = join(work, 'layout2');
    await copyImage(`docker://${reg.address}/tr/base:1`, `oci:${dir}:pulled`);
    expect((JSON.parse((await run('skopeo', ['inspect', `oci:${dir}:pulled`])).stdout) as { Digest: string }).Digest).toBe(image.digest);

    const skDir = join(work, 'skopeo-layout');
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.address}/tr/base:1`, `oci:${skDir}:sk`]);
    const res = await copyImage(`oci:${skDir}:sk`, `docker://${reg.address}/tr/fromoci:1`);
    const raw = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.address}/tr/fromoci:1`])).stdout;
    const skManifest = JSON.parse(await readFile(join(skDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(res.digest).toBe(skManifest.manifests[0]!.digest);
    expect(raw).toBe(await readFile(join(skDir, 'blobs/sha256', res.digest.slice(7)), 'utf8'));
  });

  it('an oci: layout with several images needs a tag', async () => {
    const dir = join(work, 'layout3');
    await copyImage('acme/base:1', `oci:${dir}:a`, { store });
    const other = await makeImage(store, [{ 'b.txt': 'b\n' }], { tag: 'acme/b:1' });
    await copyImage('acme/b:1', `oci:${dir}:b`, { store });
    const err = await copyImage(`oci:${dir}`, 'x/y:1', { store }).catch((e: unknown) => e);
    expect(messageChain(err)).toEqual([`copying oci:${dir} to x/y:1`, `the layout ${dir} holds 2 images; say which one`]);
    await copyImage(`oci:${dir}:b`, 'x/y:1', { store });
    expect(await store.resolve('x/y:1')).toMatchObject({ digest: other.digest });
  });

  it('says when no engine answers for docker-daemon:', async () => {
    const err = await copyImage('docker-daemon:acme/base:1', 'x/y:1', { store, engine: { host: `unix://${work}/no-such.sock` } }).catch((e: unknown) => e);
    expect(messageChain(err).slice(0, 2)).toEqual([
      'copying docker-daemon:docker.io/acme/base:1 to x/y:1',
      `saving acme/base:1 from the engine: cannot reach the engine at ${work}/no-such.sock (ENOENT)`,
    ]);
    expect(hintOf(err)).toBe('is dockerd (or podman system service) running?');
  });
});

describe('registry build cache', () => {
  const step = (n: number, layer?: { digest: string; size: number; mediaType: string }): CacheStep => ({
    key: `sha256:${String(n).repeat(64).slice(0, 64)}`,
    empty: !layer,
    layer: layer && { ...layer, diffId: `sha256:${'d'.repeat(63)}${n}` },
    createdBy: `step ${n}`,
  });

  it('writes step → layer entries, merges later writes, and feeds an empty store', async () => {
    const ref = `${reg.address}/cache/build:ib`;
    expect((await readRegistryCache(ref)).size).toBe(0);
    const [l0, l1] = image.manifest.layers;
    const first = await writeRegistryCache(store, ref, [step(1, l0), step(2)]);
    expect(first.entries).toBe(2);
    const second = await writeRegistryCache(store, ref, [step(3, l1)]);
    expect(second.entries).toBe(3);
    const map = await readRegistryCache(ref);
    expect([...map.keys()]).toEqual([step(1).key, step(2).key, step(3).key]);
    expect(map.get(step(3).key)).toEqual(step(3, l1));
    expect(map.get(step(2).key)).toEqual(step(2));

    // The cache is a plain OCI artifact: skopeo can read it, and its layers are our blobs.
    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout) as { artifactType: string; layers: { digest: string }[] };
    expect(raw.artifactType).toBe('application/vnd.ib.build-cache.v1');
    expect(raw.layers.map((l) => l.digest).sort()).toEqual([l0!.digest, l1!.digest].sort());

    const empty = await Store.open(join(work, 'cache-consumer'));
    await fetchCachedLayer(empty, ref, l1!);
    expect(await empty.hasBlob(l1!.digest)).toBe(true);
    expect((await readFile(empty.blobPath(l1!.digest))).equals(await readFile(store.blobPath(l1!.digest)))).toBe(true);
  });

  it('refuses a tag that is an image, not a cache', async () => {
    const err = await readRegistryCache(`${reg.address}/tr/base:1`).catch((e: unknown) => e);
    expect(messageChain(err)).toEqual([`reading the build cache docker://${reg.address}/tr/base:1`, `docker://${reg.address}/tr/base:1 is not an ib build cache`]);
  });
});
