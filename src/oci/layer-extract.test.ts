import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run } from '../exec/run.js';
import { SDE, makeLayerDir, makeLowerDir } from '../../test/oci/layer-fixture.js';
import { diffSnapshots, snapshot } from '../../test/oci/snapshot.js';
import { extractLayer } from './layer-extract.js';
import { writeLayer } from './layer-writer.js';
import { Store } from './store.js';
import type { TarHeader } from './tar-header.js';
import { tarStream } from './tar-writer.js';
import { MediaType } from './types.js';

let work: string;
let layer: string;
let lower: string;
let store: Store;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-layer-extract-'));
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

/** What the source should look like after a round trip: clamped mtimes, no overlay bookkeeping. */
function expected(src: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of src) {
    out.set(k, v
      .replace(/mtime=(\d+)/, (_, m: string) => `mtime=${Math.min(Number(m), SDE)}`)
      .replace(/ ?trusted\.overlay\.origin=[0-9a-f]+/, '')
      .replace(k === 'opq-new' ? / trusted\.overlay\.opaque=79/ : /^$/, ''));
  }
  return out;
}

async function tarOf(entries: { header: Partial<TarHeader> & { name: string }; body?: string }[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const full = entries.map((e) => ({
    header: { type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: e.body?.length ?? 0, mtime: SDE, ...e.header },
    body: e.body === undefined ? undefined : async function* () { yield Buffer.from(e.body!); },
  }));
  for await (const c of tarStream(full)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('extractLayer', () => {
  test.each(['gzip', 'zstd'] as const)('round-trips a layer dir exactly (%s)', async (compression) => {
    const l = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE, compression });
    const out = join(work, `out-${compression}`);
    const r = await extractLayer(store, l, out);
    expect(r.diffId).toBe(l.diffId);
    const diff = diffSnapshots(expected(await snapshot(layer)), await snapshot(out));
    expect(diff).toEqual([]);
    expect((await run('getcap', [join(out, 'd/f')])).stdout.trim()).toBe(`${join(out, 'd/f')} cap_setuid,cap_net_raw=ep`);
    // Writing the extracted dir again gives the same layer: the two directions agree.
    const again = await writeLayer(out, store, { lowerDirs: [lower], sourceDateEpoch: SDE, compression });
    expect(again.diffId).toBe(l.diffId);
    expect(again.digest).toBe(l.digest);
    expect((await readdir(work)).filter((n) => n.includes('.extract-'))).toEqual([]);
  });

  test('a wrong diffID is refused and leaves nothing behind', async () => {
    const l = await writeLayer(layer, store, { sourceDateEpoch: SDE });
    const out = join(work, 'wrong-diffid');
    const wrong = 'sha256:' + '0'.repeat(64);
    const err = (await extractLayer(store, { ...l, diffId: wrong }, out).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe(`layer ${l.digest}: its uncompressed content has digest ${l.diffId}, but the image config says ${wrong}`);
    expect((await readdir(work)).filter((n) => n.startsWith('wrong-diffid') || n.includes('.extract-'))).toEqual([]);
  });

  test.each([512, 100])('a stored blob whose bytes changed is refused (byte %i)', async (at) => {
    const tar = await tarOf([{ header: { name: 'etc/motd' }, body: 'hello\n' }]);
    const { digest } = await store.putBlob(Readable.from([Buffer.concat([tar, Buffer.from(String(at))])]));
    const altered = Buffer.from(tar);
    altered.write('HELLO', at, 'latin1');
    await writeFile(store.blobPath(digest), altered);
    const err = (await extractLayer(store, { mediaType: MediaType.layerTar, digest }, join(work, 'tampered')).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`^layer ${digest}: the blob's content has digest sha256:[0-9a-f]{64}$`));
    expect((await readdir(work)).filter((n) => n.startsWith('tampered') || n.includes('.extract-'))).toEqual([]);
  });

  test('two extractions of one layer at once both succeed', async () => {
    const l = await writeLayer(layer, store, { lowerDirs: [lower], sourceDateEpoch: SDE });
    const out = join(work, 'race');
    await Promise.all([extractLayer(store, l, out), extractLayer(store, l, out)]);
    expect(await readFile(join(out, 'd/f'), 'utf8')).toBe('hi\n');
    expect((await readdir(work)).filter((n) => n.includes('.extract-'))).toEqual([]);
  });

  test('whiteouts follow the OCI rules within one layer', async () => {
    const tar = await tarOf([
      { header: { name: 'a' }, body: 'a stays\n' },
      { header: { name: '.wh.a' } },
      { header: { name: '.wh.b' } },
      { header: { name: 'b' }, body: 'b replaces its whiteout\n' },
      { header: { name: 'c/.wh.x' } },
      { header: { name: '.wh.d' } },
      { header: { name: 'd/new' }, body: 'recreated\n' },
      { header: { name: 'e', type: 'dir', mode: 0o750 } },
      { header: { name: 'e/.wh..wh..opq' } },
      { header: { name: '.wh..wh.plnk' } },
    ]);
    const out = join(work, 'wh');
    await extractLayer(Readable.from([tar]), MediaType.layerTar, out);
    const s = await snapshot(out, { mtime: false });
    expect(s.get('a')).toMatch(/^file 644 0:0 8 /);
    expect(s.get('b')).toMatch(/^file 644 0:0 24 /);
    expect(s.get('c')).toBe('dir 755 0:0');
    expect(s.get('c/x')).toBe('whiteout');
    // Deleted and recreated in one layer: in overlay terms an opaque directory.
    expect(s.get('d')).toBe('dir 755 0:0 trusted.overlay.opaque=79');
    expect(s.get('e')).toBe('dir 750 0:0 trusted.overlay.opaque=79');
    expect([...s.keys()].sort()).toEqual(['a', 'b', 'c', 'c/x', 'd', 'd/new', 'e']);
  });

  test('a layer from a stream: the root entry sets the root, the expected diffID is checked', async () => {
    const tar = await tarOf([{ header: { name: './', type: 'dir', mode: 0o755, mtime: 1234 } }, { header: { name: './etc/hostname' }, body: 'x\n' }]);
    const out = join(work, 'stream');
    const { sha256 } = await import('./digest.js');
    const r = await extractLayer(Readable.from([tar]), MediaType.layerTar, out, { expectedDiffId: sha256(tar) });
    expect(r.diffId).toBe(sha256(tar));
    expect((await run('stat', ['-c', '%a %Y', out])).stdout).toBe('755 1234\n');
    expect(await readFile(join(out, 'etc/hostname'), 'utf8')).toBe('x\n');
  });
});
