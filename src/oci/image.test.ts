import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from './digest.js';
import { imageLayers, readImage, readImageByName, writeImage } from './image.js';
import { Store } from './store.js';
import { MediaType } from './types.js';

let root: string;
let store: Store;
const layer = (n: number) => ({ descriptor: { mediaType: MediaType.layerGzip, digest: sha256(`blob${n}`), size: n }, diffId: sha256(`tar${n}`) });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ib-image-'));
  store = await Store.open(root);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeImage / readImage', () => {
  test('writes config and manifest reproducibly and reads them back validated', async () => {
    const opts = {
      layers: [layer(1), layer(2)],
      history: [{ created_by: 'bootstrap' }, { created_by: 'noop', empty_layer: true }, { created_by: 'htop' }],
      labels: { 'org.opencontainers.image.title': 't' },
      annotations: { 'org.opencontainers.image.version': '1' },
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      created: 1700000000,
      config: { Env: ['PATH=/usr/bin'], Cmd: ['/bin/bash'] },
    };
    const a = await writeImage(store, opts);
    const b = await writeImage(store, opts);
    expect(b).toEqual(a);
    await store.tag('t:1', a.manifest);
    const img = await readImageByName(store, 't:1');
    expect(img.manifest.layers).toEqual([layer(1).descriptor, layer(2).descriptor]);
    expect(img.manifest.annotations).toEqual({ 'org.opencontainers.image.version': '1' });
    expect(img.config).toMatchObject({
      created: '2023-11-14T22:13:20.000Z', architecture: 'arm64', os: 'linux', variant: 'v8',
      config: { Env: ['PATH=/usr/bin'], Cmd: ['/bin/bash'], Labels: { 'org.opencontainers.image.title': 't' } },
      rootfs: { type: 'layers', diff_ids: [sha256('tar1'), sha256('tar2')] },
    });
    expect(img.config.history!.map((h) => h.created)).toEqual(Array(3).fill('2023-11-14T22:13:20.000Z'));
    expect(imageLayers(img).map((l) => l.diffId)).toEqual([sha256('tar1'), sha256('tar2')]);
  });

  test('refuses a history that does not match the layers', async () => {
    await expect(writeImage(store, { layers: [layer(1)], history: [] })).rejects.toThrow('image history has 0 non-empty entries for 1 layers');
  });

  test('an index is resolved for the platform asked for', async () => {
    const amd = await writeImage(store, { layers: [layer(3)], platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await writeImage(store, { layers: [layer(4)], platform: { os: 'linux', architecture: 'arm64' } });
    const index = await store.putJson({
      schemaVersion: 2, mediaType: MediaType.index,
      manifests: [{ ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } }, { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } }],
    }, MediaType.index);
    expect((await readImage(store, index, { os: 'linux', architecture: 'arm64' })).descriptor.digest).toBe(arm.manifest.digest);
    await expect(readImage(store, index, { os: 'linux', architecture: 's390x' })).rejects.toThrow(
      `image index ${index.digest} has no manifest for linux/s390x (it has linux/amd64, linux/arm64)`,
    );
  });
});
