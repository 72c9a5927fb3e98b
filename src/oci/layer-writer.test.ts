import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run } from '../exec/run.js';
import { LONG_FILE, SDE, makeLayerDir, makeLowerDir } from '../../test/oci/layer-fixture.js';
import { messageChain } from '../errors.js';
import { Store } from './store.js';
import { layerTar, writeLayer } from './layer-writer.js';
import { readTar } from './tar-reader.js';
import type { TarHeader } from './tar-header.js';

let work: string;
let layer: string;
let lower: string;
let store: Store;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-layer-writer-'));
  layer = join(work, 'layer');
  lower = join(work, 'lower');
  await mkdir(layer);
  await mkdir(lower);
  await makeLayerDir(layer);
  await makeLowerDir(lower);
  store = await Store.open(join(work, 'store'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function headers(dir: string): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readTar(await layerTar(dir, { lowerDirs: [lower], sourceDateEpoch: SDE }))) {
    for await (const _ of e.body) void _;
    out.push(e.header);
  }
  return out;
}

describe('writeLayer', () => {
  test('the same dir, twice and as a copy, gives identical digests', async () => {
    const a = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE });
    const b = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE });
    const copy = join(work, 'copy');
    await run('cp', ['-a', layer, copy]);
    const c = await writeLayer(copy, store, { lowerDirs: [lower], sourceDateEpoch: SDE });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(a.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(await store.blobSize(a.digest)).toBe(a.size);
    await rm(copy, { recursive: true });
  });

  test('maps whiteouts and opaque dirs, strips overlay xattrs, clamps mtimes, keeps ids and names', async () => {
    const hs = await headers(layer);
    const byName = new Map(hs.map((h) => [Buffer.from(h.name, 'latin1').toString('utf8'), h]));
    for (const wh of ['.wh.gone1', '.wh.gone2', 'sub/.wh.gone3']) {
      expect(byName.get(wh)).toMatchObject({ type: 'file', size: 0, mode: 0, uid: 0, gid: 0 });
    }
    expect([...byName.keys()].filter((n) => /gone/.test(n) && !n.includes('.wh.'))).toEqual([]);
    const names = hs.map((h) => h.name);
    expect(names[names.indexOf('opq-in-lower') + 1]).toBe('opq-in-lower/.wh..wh..opq');
    expect(byName.has('opq-new')).toBe(true);
    expect(byName.has('opq-new/.wh..wh..opq')).toBe(false);
    expect(hs.flatMap((h) => Object.keys(h.xattrs ?? {})).filter((k) => k.startsWith('trusted.overlay.'))).toEqual([]);
    expect(byName.get('d/f')!.xattrs!['security.capability']!.toString('hex')).toBe('0100000280200000000000000000000000000000');
    expect(byName.get('d/f')!.xattrs!['user.binary']!.toString('hex')).toBe('00ff80fe0a3d');
    expect(byName.get('d/f')!.mode).toBe(0o4755);
    expect(byName.get('d/g')).toMatchObject({ type: 'link', linkname: 'd/f' });
    expect(byName.get('future')!.mtime).toBe(SDE);
    expect(byName.get('old')!.mtime).toBe(1500000000);
    expect(byName.get('hugeid')).toMatchObject({ uid: 3000000, gid: 3000001 });
    expect(byName.get('dev/big')).toMatchObject({ type: 'char', devmajor: 300, devminor: 70000 });
    expect(byName.get('tmp')!.mode).toBe(0o1777);
    expect(byName.get(LONG_FILE)!.size).toBe(5);
    expect(byName.get('longlink')!.linkname).toBe(LONG_FILE);
    expect(byName.has('café-latin1'.replace('é', '\ufffd'))).toBe(true);
    // Byte order of the path, except that an opaque marker follows its directory at once.
    const sorted = names.filter((n) => !n.endsWith('/.wh..wh..opq') && !n.includes('.wh.'));
    expect(sorted).toEqual([...sorted].sort());
  });

  test('GNU tar reads the layer and restores file capabilities byte-exact', async () => {
    const l = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE });
    const out = join(work, 'gnu');
    await mkdir(out);
    await run('sh', ['-c', `gzip -dc "$1" | tar --xattrs --xattrs-include='*' --numeric-owner -xpf - -C "$2"`, 'sh', store.blobPath(l.digest), out]);
    expect((await run('getcap', [join(out, 'd/f')])).stdout.trim()).toBe(`${join(out, 'd/f')} cap_setuid,cap_net_raw=ep`);
    const x = await run('getfattr', ['-n', 'user.binary', '--only-values', join(out, 'd/f')], { binary: true });
    expect(x.stdoutBuffer!.toString('hex')).toBe('00ff80fe0a3d');
    expect((await run('stat', ['-c', '%a %u:%g', join(out, 'd/f'), join(out, 'hugeid')])).stdout).toBe('4755 0:0\n644 3000000:3000001\n');
    expect((await run('cat', [join(out, LONG_FILE)])).stdout).toBe('long\n');
    await rm(out, { recursive: true });
  });

  test('zstd layers have their media type and the same diffID as gzip', async () => {
    const g = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE });
    const z = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE, compression: 'zstd' });
    expect(z.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(z.diffId).toBe(g.diffId);
    expect(z.digest).not.toBe(g.digest);
    await run('zstd', ['-t', '-q', store.blobPath(z.digest)]);
  });

  test('the diffID is the sha256 of the uncompressed blob', async () => {
    const g = await writeLayer(layer, store, { sourceDateEpoch: SDE });
    const { createHash } = await import('node:crypto');
    const h = createHash('sha256');
    for await (const c of store.openBlob(g.digest).pipe(createGunzip())) h.update(c as Buffer);
    expect(`sha256:${h.digest('hex')}`).toBe(g.diffId);
  });

  test('refuses an upper dir that overlay redirects made incomplete', async () => {
    const bad = join(work, 'redirect');
    await mkdir(join(bad, 'moved'), { recursive: true });
    await run('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/orig', join(bad, 'moved')]);
    const err = await writeLayer(bad, store).catch((e: unknown) => e);
    expect(messageChain(err)).toEqual([
      `writing layer from ${bad}`,
      `layer dir ${bad}: moved carries trusted.overlay.redirect, so the upper dir is not a full diff`,
    ]);
    expect((err as { hint?: string }).hint).toBe('mount the overlay with redirect_dir=off,metacopy=off (and index=off) when capturing a step');
  });
});
