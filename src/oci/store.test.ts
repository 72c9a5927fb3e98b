import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { canonicalJson, sha256 } from './digest.js';
import { writeImage } from './image.js';
import { REF_NAME, Store } from './store.js';
import { MediaType } from './types.js';

let root: string;
let store: Store;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ib-store-'));
  store = await Store.open(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const leftovers = async () => [...(await readdir(join(root, 'blobs/sha256'))), ...(await readdir(join(root, '.ingest')))];

describe('Store', () => {
  test('creates an OCI image layout, and opens an existing one as is', async () => {
    expect(JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await readFile(join(root, 'index.json'), 'utf8'))).toEqual({ schemaVersion: 2, mediaType: MediaType.index, manifests: [] });
    await store.tag('a:1', await store.putJson({ x: 1 }, MediaType.manifest));
    const again = await Store.open(root);
    expect((await again.list()).map((e) => e.name)).toEqual(['a:1']);
  });

  test('putBlob hashes while copying; a wrong digest or size stores nothing', async () => {
    const data = Buffer.from('hello blob\n');
    const r = await store.putBlob(Readable.from([data]), { digest: sha256(data), size: data.length });
    expect(r).toEqual({ digest: sha256(data), size: data.length });
    expect(await store.hasBlob(r.digest)).toBe(true);
    expect(await store.blobSize(r.digest)).toBe(data.length);
    const chunks: Buffer[] = [];
    for await (const c of store.openBlob(r.digest)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(data);
    await rm(store.blobPath(r.digest));

    const other = sha256('something else');
    await expect(store.putBlob(Readable.from([data]), { digest: other })).rejects.toThrow(
      `blob content does not match its digest: expected ${other}, got ${sha256(data)}`,
    );
    await expect(store.putBlob(Readable.from([data]), { digest: sha256(data), size: 3 })).rejects.toThrow(
      `blob ${sha256(data)} has ${data.length} bytes, expected 3`,
    );
    expect(await leftovers()).toEqual([]);
  });

  test('a source that fails midway leaves nothing', async () => {
    const src = new Readable({ read() {} });
    src.push(Buffer.from('partial'));
    setTimeout(() => src.destroy(new Error('connection reset')), 10);
    await expect(store.putBlob(src)).rejects.toThrow('connection reset');
    expect(await leftovers()).toEqual([]);
  });

  test('digests are validated before they become paths', async () => {
    expect(() => store.blobPath('sha256:../../etc/passwd')).toThrow('invalid digest "sha256:../../etc/passwd"');
    expect(() => store.blobPath('md5:abc')).toThrow('invalid digest "md5:abc"');
  });

  test('putJson writes canonical bytes; readJson verifies digest and schema', async () => {
    const d = await store.putJson({ b: 1, a: [2, { d: 3, c: 4 }] }, 'application/json', { note: 'x' });
    expect(d).toEqual({ mediaType: 'application/json', digest: sha256('{"a":[2,{"c":4,"d":3}],"b":1}'), size: 29, annotations: { note: 'x' } });
    expect(await store.readJson(d.digest, z.object({ b: z.number() }).passthrough())).toMatchObject({ b: 1 });
    await expect(store.readJson(d.digest, z.object({ b: z.string() }))).rejects.toThrow(`blob ${d.digest} is not what was expected: b: Invalid input: expected string, received number`);
    await writeFile(store.blobPath(d.digest), canonicalJson({ b: 2 }));
    await expect(store.readJson(d.digest, z.unknown())).rejects.toThrow(`blob ${d.digest} in ${root} is corrupt: its content has another digest`);
    const missing = sha256('nope');
    await expect(store.readJson(missing, z.unknown())).rejects.toThrow(`blob ${missing} is not in the store ${root}`);
  });

  test('tag, resolve, list, untag; a tag moves', async () => {
    const m1 = await store.putJson({ n: 1 }, MediaType.manifest);
    const m2 = await store.putJson({ n: 2 }, MediaType.manifest);
    await store.tag('acme/tools:1', m1);
    await store.tag('acme/base:1', m1);
    await store.tag('acme/tools:1', m2);
    expect(await store.resolve('acme/tools:1')).toEqual({ ...m2, annotations: { [REF_NAME]: 'acme/tools:1' } });
    expect((await store.list()).map((e) => [e.name, e.descriptor.digest])).toEqual([['acme/base:1', m1.digest], ['acme/tools:1', m2.digest]]);
    expect(await store.untag('acme/base:1')).toBe(true);
    expect(await store.untag('acme/base:1')).toBe(false);
    expect(await store.resolve('acme/base:1')).toBeUndefined();
  });

  test('prune keeps what tags and extra roots reach (through indexes), removes the rest', async () => {
    const layer = await store.putBlob(Readable.from([Buffer.from('layer bytes')]));
    const cached = await store.putBlob(Readable.from([Buffer.from('a cached step layer')]));
    const orphan = await store.putBlob(Readable.from([Buffer.from('orphan!')]));
    const img = await writeImage(store, {
      layers: [{ descriptor: { mediaType: MediaType.layerGzip, ...layer }, diffId: sha256('x') }],
      platform: { os: 'linux', architecture: 'amd64' },
    });
    const index = await store.putJson({ schemaVersion: 2, mediaType: MediaType.index, manifests: [{ ...img.manifest, platform: { os: 'linux', architecture: 'amd64' } }] }, MediaType.index);
    await store.tag('multi:1', index);
    await writeFile(join(root, '.ingest', '999999999-1-dead'), 'from a killed process');
    expect(await store.prune([cached.digest])).toEqual({ removed: 1, bytes: 7 });
    expect(await store.hasBlob(orphan.digest)).toBe(false);
    for (const d of [layer.digest, cached.digest, img.manifest.digest, img.config.digest, index.digest]) expect(await store.hasBlob(d)).toBe(true);
    expect(await readdir(join(root, '.ingest'))).toEqual([]);
    await store.untag('multi:1');
    const r = await store.prune();
    expect(r.removed).toBe(5);
    expect(await store.blobDigests()).toEqual([]);
  });

  test('prune spares blobs younger than minAgeMs (a build not yet tagged)', async () => {
    await store.putBlob(Readable.from([Buffer.from('fresh')]));
    expect(await store.prune([], { minAgeMs: 60_000 })).toEqual({ removed: 0, bytes: 0 });
  });

  test('ingestPath + commitBlob move a verified temp file into blobs/', async () => {
    const tmp = store.ingestPath();
    expect(tmp.startsWith(join(root, '.ingest') + '/')).toBe(true);
    await writeFile(tmp, 'abc');
    await store.commitBlob(tmp, sha256('abc'));
    expect(await readFile(store.blobPath(sha256('abc')), 'utf8')).toBe('abc');
    expect(await readdir(join(root, '.ingest'))).toEqual([]);
  });
});
