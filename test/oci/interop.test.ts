/**
 * Interop: an image ib writes into its store is read by skopeo (`oci:DIR:name`) and unpacked by
 * umoci, and umoci's rootfs equals what the same layer dirs show when overlayfs mounts them as
 * lowers (ib's own view): modes, owners, sha256s, symlink targets, devices, hard links, xattrs
 * and file capabilities, with whiteouts and an opaque directory applied over a real Debian slice.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { run } from '../../src/exec/run.js';
import { Store, writeImage, writeLayer, type LayerBlob } from '../../src/oci/index.js';
import { baseTree } from '../helpers/base-tree.js';
import { SDE, makeLayerDir, makeLowerDir } from './layer-fixture.js';
import { diffSnapshots, snapshot } from './snapshot.js';

let work: string;
let store: Store;
let layers: LayerBlob[];
let lower: string;
let upper: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-interop-'));
  lower = join(work, 'l1');
  upper = join(work, 'l2');
  await mkdir(join(lower, 'usr'), { recursive: true });
  const base = await baseTree();
  for (const p of ['etc', 'usr/bin', 'usr/sbin', 'bin', 'sbin']) await run('cp', ['-a', join(base, p), join(lower, p)]);
  await makeLowerDir(lower);
  await mkdir(upper);
  await makeLayerDir(upper);
  await mkdir(join(upper, 'etc'));
  await run('mknod', [join(upper, 'etc/motd'), 'c', '0', '0']);
  store = await Store.open(join(work, 'store'));
  layers = [
    await writeLayer(lower, store, { sourceDateEpoch: SDE }),
    await writeLayer(upper, store, { lowerDirs: [lower], sourceDateEpoch: SDE }),
  ];
  const img = await writeImage(store, {
    layers: layers.map((l) => ({ descriptor: { mediaType: l.mediaType, digest: l.digest, size: l.size }, diffId: l.diffId })),
    platform: { os: 'linux', architecture: 'amd64' },
    created: SDE,
    labels: { 'org.example': 'interop' },
  });
  await store.tag('interop', img.manifest);
}, 600_000);

afterAll(async () => {
  await run('umount', [join(work, 'merged')], { allowFailure: true });
  await rm(work, { recursive: true, force: true });
});

test('skopeo inspects the image in the store', async () => {
  const r = JSON.parse((await run('skopeo', ['inspect', `oci:${store.root}:interop`])).stdout) as { Digest: string; Layers: string[]; Labels: Record<string, string>; Architecture: string };
  expect(r.Digest).toBe((await store.resolve('interop'))!.digest);
  expect(r.Layers).toEqual(layers.map((l) => l.digest));
  expect(r.Labels).toEqual({ 'org.example': 'interop' });
  expect(r.Architecture).toBe('amd64');
});

test('umoci unpacks it to exactly the overlay view of ib\'s layer dirs', async () => {
  const bundle = join(work, 'bundle');
  await run('umoci', ['unpack', '--image', `${store.root}:interop`, bundle]);
  const merged = join(work, 'merged');
  await mkdir(merged);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${upper}:${lower}`, merged]);
  let want: Map<string, string>;
  try {
    want = await snapshot(merged, { mtime: false });
  } finally {
    await run('umount', [merged]);
  }
  const got = await snapshot(join(bundle, 'rootfs'), { mtime: false });
  expect(diffSnapshots(want, got)).toEqual([]);
  // The checks that matter most, spelled out.
  expect(got.has('etc/motd')).toBe(false);
  expect(got.has('opq-in-lower/hidden')).toBe(false);
  expect(got.get('opq-in-lower/kept')).toMatch(/^file 644 0:0 4 /);
  expect(got.has('gone1')).toBe(false);
  expect((await run('getcap', [join(bundle, 'rootfs/usr/bin/ping'), join(bundle, 'rootfs/d/f')])).stdout).toBe(
    `${join(bundle, 'rootfs/usr/bin/ping')} cap_net_raw=ep\n${join(bundle, 'rootfs/d/f')} cap_setuid,cap_net_raw=ep\n`,
  );
  expect(got.get('d/f')).toMatch(/^file 4755 0:0 3 [0-9a-f]{64} links=d\/f /);
  expect(got.get('d/g')).toMatch(/links=d\/f/);
  expect(got.get('dev/null')).toBe('char 666 0:0 259');
});
