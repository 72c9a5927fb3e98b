/** The docker-daemon: transport through a real dockerd: store → engine → store and registry. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageChain } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { Store } from '../../src/oci/store.js';
import { ImageConfig, Manifest } from '../../src/oci/types.js';
import { connectEngine, inspectEngineImage } from '../../src/engine/index.js';
import { copyImage, pullImage } from '../../src/registry/index.js';
import { startDockerd, type TestDockerd } from '../helpers/dockerd.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let dockerd: TestDockerd;
let reg: TestRegistry;
let work: string;
let store: Store;
let image: TinyImage;

beforeAll(async () => {
  [dockerd, reg] = await Promise.all([startDockerd(), startRegistry()]);
  work = await mkdtemp(join(tmpdir(), 'ib-daemon-'));
  store = await Store.open(join(work, 'store'));
  image = await makeImage(store, [{ 'etc/motd': 'from ib\n' }, { 'opt/data.bin': 70_000 }], { tag: 'acme/tiny:1' });
}, 120_000);
afterAll(async () => {
  await dockerd?.stop();
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('docker-daemon: transport', () => {
  it('loads a store image into dockerd, whose files docker reads back', async () => {
    const engine = { host: dockerd.host };
    await copyImage('acme/tiny:1', 'docker-daemon:acme/tiny:1', { store, engine });
    const inspected = await inspectEngineImage(connectEngine(engine), 'acme/tiny:1');
    // The image ID is the config digest: the config went in byte for byte.
    expect(inspected).toEqual({ id: image.manifest.config.digest, repoTags: ['acme/tiny:1'] });
    const env = { DOCKER_HOST: dockerd.host };
    const cid = (await run('docker', ['create', '--network=none', '--pull=never', 'acme/tiny:1', '/nothing'], { env })).stdout.trim();
    const motd = await run('docker', ['cp', `${cid}:/etc/motd`, '-'], { env, binary: true });
    expect(motd.stdoutBuffer!.toString('latin1')).toContain('from ib\n');
    await run('docker', ['rm', cid], { env });
  });

  it('saves an engine image into a store and pushes it to a registry with the same config and diff IDs', async () => {
    const engine = { host: dockerd.host };
    const other = await Store.open(join(work, 'from-engine'));
    const res = await copyImage('docker-daemon:acme/tiny:1', 'back/tiny:1', { store: other, engine });
    const m = await other.readJson(res.digest, Manifest);
    expect(m.config.digest).toBe(image.manifest.config.digest);
    const cfg = await other.readJson(m.config.digest, ImageConfig);
    const orig = await store.readJson(image.manifest.config.digest, ImageConfig);
    expect(cfg.rootfs.diff_ids).toEqual(orig.rootfs.diff_ids);
    // docker keeps layers uncompressed: their digests are the diff IDs.
    expect(m.layers.map((l) => l.digest)).toEqual(orig.rootfs.diff_ids);
    expect(m.layers.map((l) => l.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar']);

    await copyImage('docker-daemon:acme/tiny:1', `docker://${reg.address}/engine/tiny:1`, { engine });
    const pulled = await pullImage(await Store.open(join(work, 'pulled')), `${reg.address}/engine/tiny:1`);
    expect(pulled.manifest.config.digest).toBe(image.manifest.config.digest);
    const skopeo = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.address}/engine/tiny:1`])).stdout) as { Labels: Record<string, string> };
    expect(skopeo.Labels).toEqual({ 'org.example.test': 'tiny' });
    expect((await readFile(other.blobPath(res.digest))).length).toBeGreaterThan(0);
  });

  it('a registry image goes straight into the engine', async () => {
    const engine = { host: dockerd.host };
    await copyImage('acme/tiny:1', `docker://${reg.address}/direct/tiny:1`, { store });
    await copyImage(`docker://${reg.address}/direct/tiny:1`, 'docker-daemon:direct/tiny:2', { engine });
    expect((await inspectEngineImage(connectEngine(engine), 'direct/tiny:2'))?.id).toBe(image.manifest.config.digest);
  });

  it('names a missing engine image', async () => {
    const err = await copyImage('docker-daemon:nope/missing:1', 'x/y:1', { store, engine: { host: dockerd.host } }).catch((e: unknown) => e);
    expect(messageChain(err)).toEqual([
      'copying docker-daemon:docker.io/nope/missing:1 to x/y:1',
      'saving nope/missing:1 from the engine: the engine has no such image',
    ]);
  });
});
