import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { writeImage } from './image.js';
import { writeLayer } from './layer-writer.js';
import { checkStore } from './store-check.js';
import { Store } from './store.js';
import { MediaType } from './types.js';

let work: string;
let root: string;
let store: Store;
let image: { manifest: string; config: string; layer: string };

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-store-check-'));
  root = join(work, 'store');
  store = await Store.open(root);
  const dir = join(work, 'layer');
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'os-release'), 'ID=check\n'.repeat(500));
  const layer = await writeLayer(dir, store, { sourceDateEpoch: 1700000000 });
  const img = await writeImage(store, {
    layers: [{ descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, diffId: layer.diffId }],
    platform: { os: 'linux', architecture: 'amd64' },
  });
  await store.tag('check/a:1', img.manifest);
  image = { manifest: img.manifest.digest, config: img.config.digest, layer: layer.digest };
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const blobFile = (digest: string) => join(root, 'blobs', 'sha256', digest.slice(7));

describe('checkStore', () => {
  test('a clean store passes; unreferenced blobs and temps of live processes are no problem', async () => {
    await store.putBlob(Readable.from([Buffer.from('a cached step layer nothing tags')]));
    await writeFile(store.ingestPath(), 'a write in progress (this process)');
    const r = await checkStore(root);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ root, blobs: 4, images: 1, unreferenced: 1, repaired: [] });
    expect(r.bytes).toBeGreaterThan(0);
  });

  test('a flipped byte in a layer blob is reported as corrupt, naming the digest, the image and the fix', async () => {
    const bytes = await readFile(blobFile(image.layer));
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0x01;
    await writeFile(blobFile(image.layer), bytes);
    const r = await checkStore(root);
    expect(r.problems).toHaveLength(1);
    const p = r.problems[0]!;
    expect(p).toMatchObject({ kind: 'corrupt', subject: image.layer });
    expect(p.message).toMatch(new RegExp(`^blob ${image.layer} is corrupt: its ${bytes.length} bytes hash to sha256:[0-9a-f]{64}; image check/a:1 uses it$`));
    expect(p.hint).toBe('ib store check --repair deletes it; then ib pull check/a:1 again if it came from a registry, or rebuild it (ib rm check/a:1 drops it)');
  });

  test('a deleted config blob is a dangling reference', async () => {
    await rm(blobFile(image.config));
    const r = await checkStore(root);
    expect(r.problems).toEqual([{
      kind: 'dangling',
      subject: image.config,
      message: `image check/a:1 references config ${image.config}, which is not in the store`,
      hint: 'ib pull check/a:1 again if it came from a registry, or rebuild it (ib rm check/a:1 drops it)',
    }]);
  });

  test('a missing manifest, a wrong descriptor size and an index.json that does not parse are reported', async () => {
    const layerSize = (await readFile(blobFile(image.layer))).length;
    const wrong = await store.putJson({
      schemaVersion: 2, mediaType: MediaType.manifest,
      config: { mediaType: MediaType.config, digest: image.config, size: (await readFile(blobFile(image.config))).length },
      layers: [{ mediaType: MediaType.layerGzip, digest: image.layer, size: layerSize + 1 }],
    }, MediaType.manifest);
    await store.tag('check/wrong-size:1', wrong);
    await store.tag('check/gone:1', { mediaType: MediaType.manifest, digest: `sha256:${'0'.repeat(64)}`, size: 10 });
    const r = await checkStore(root);
    expect(r.problems.map((p) => [p.kind, p.subject, p.message])).toEqual([
      ['dangling', `sha256:${'0'.repeat(64)}`, `image check/gone:1 references manifest sha256:${'0'.repeat(64)}, which is not in the store`],
      ['size', image.layer, `image check/wrong-size:1 says its layer ${image.layer} has ${layerSize + 1} bytes; the blob has ${layerSize}`],
    ]);
    await writeFile(join(root, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    const broken = await checkStore(root);
    expect(broken.problems.map((p) => [p.kind, p.subject])).toEqual([['index', 'index.json']]);
    expect(broken.problems[0]!.message).toMatch(/^index\.json is not JSON: /);
  });

  test('a temp file of a dead process, a stray file and a half-unpacked layer of a dead process are reported', async () => {
    await writeFile(join(root, '.ingest', '999999999-1-deadbeef'), 'from a killed pull');
    await writeFile(join(root, 'blobs', 'sha256', 'notes.txt'), 'not a blob');
    const layers = join(work, 'layers');
    await mkdir(join(layers, `.${'a'.repeat(64)}.extract-999999999-x1y2`, 'root'), { recursive: true });
    await mkdir(join(layers, `.${'b'.repeat(64)}.extract-${process.pid}-x1y2`), { recursive: true });
    const r = await checkStore(root, { layersDir: layers });
    expect(r.problems.map((p) => [p.kind, p.subject, p.message])).toEqual([
      ['stray', 'blobs/sha256/notes.txt', 'blobs/sha256/notes.txt is not a blob (blobs are files named by their sha256)'],
      ['stale-ingest', '.ingest/999999999-1-deadbeef', '.ingest/999999999-1-deadbeef is a temp file of pid 999999999, which is no longer running'],
      ['stale-extract', `layers/.${'a'.repeat(64)}.extract-999999999-x1y2`, `layers/.${'a'.repeat(64)}.extract-999999999-x1y2 is a layer half unpacked by pid 999999999, which is no longer running`],
    ]);
    expect(r.blobs).toBe(3);
  });

  test('repair deletes the corrupt blob and dead temps only, and says which image now misses a blob', async () => {
    const bytes = await readFile(blobFile(image.layer));
    bytes[0] = bytes[0]! ^ 0xff;
    await writeFile(blobFile(image.layer), bytes);
    await writeFile(join(root, '.ingest', '999999999-2-cafe'), 'x');
    await writeFile(join(root, 'blobs', 'sha256', 'notes.txt'), 'not a blob');
    const layers = join(work, 'layers');
    await mkdir(join(layers, `.${'a'.repeat(64)}.extract-999999999-zz`), { recursive: true });
    const r = await checkStore(root, { layersDir: layers, repair: true });
    expect(r.repaired.map((p) => p.kind)).toEqual(['corrupt', 'stale-ingest', 'stale-extract']);
    expect(r.blobs).toBe(2);
    expect(r.problems.map((p) => [p.kind, p.subject])).toEqual([['dangling', image.layer], ['stray', 'blobs/sha256/notes.txt']]);
    expect(r.problems[0]!.message).toBe(`image check/a:1 uses blob ${image.layer}, which was corrupt and is deleted`);
    expect((await readdir(join(root, 'blobs', 'sha256'))).sort()).toEqual([image.config.slice(7), image.manifest.slice(7), 'notes.txt'].sort());
    expect(await readdir(join(root, '.ingest'))).toEqual([]);
    expect(await readdir(layers)).toEqual([]);
    // What is left is what a second check finds.
    const again = await checkStore(root, { layersDir: layers });
    expect(again.problems.map((p) => [p.kind, p.subject])).toEqual([['dangling', image.layer], ['stray', 'blobs/sha256/notes.txt']]);
  });

  test('a directory that is no store is an error, not a clean report', async () => {
    await expect(checkStore(join(work, 'nope'))).rejects.toThrow(`there is no store at ${join(work, 'nope')}`);
  });
});
