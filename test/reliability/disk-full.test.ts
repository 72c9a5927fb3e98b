/**
 * A full disk under the cache dir: ib's store lives on a 40 MiB tmpfs and `ib pull` of a 60 MiB
 * image runs it out of space. ib must say so in a sentence (the store, "full", what to do), leave
 * no temp file behind and the store consistent — the image pulled before still whole — and the
 * next pull, with room again, must simply work. `ib store check` is the judge throughout, and it
 * is also shown finding, repairing and recovering from a flipped byte in a layer.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { logger } from '../../src/log.js';
import { Store } from '../../src/oci/store.js';
import { pushImage } from '../../src/registry/index.js';
import { ib, ibOk } from '../helpers/ib.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { mountsUnder, staleTemps } from './leftovers.js';

logger.quiet = true;

const registry = inject('registry');
const smallRef = `${registry}/diskfull/small:1`;
const bigRef = `${registry}/diskfull/big:1`;
let work: string;
let disk: string;
let big: TinyImage;
let small: TinyImage;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-diskfull-'));
  disk = join(work, 'disk');
  await mkdir(disk);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', disk]);
  // Incompressible content (a sha256 chain), so the gzip layers are as big as the files.
  const src = await Store.open(join(work, 'src'));
  small = await makeImage(src, [{ 'etc/os-release': 'ID=small\n', 'usr/share/small.bin': 2_000_000 }]);
  big = await makeImage(src, [{ 'big/0.bin': 20_000_000 }, { 'big/1.bin': 20_000_000 }, { 'big/2.bin': 20_000_000 }]);
  await pushImage(src, small.digest, smallRef);
  await pushImage(src, big.digest, bigRef);
}, 300_000);

afterAll(async () => {
  if (!work) return;
  if (mountsUnder(disk).length > 0) await run('umount', [disk]);
  await rm(work, { recursive: true, force: true });
});

const store = () => join(disk, 'store');
const imageNames = async () => (JSON.parse((await ibOk(['images', '--format', 'json'], { cacheDir: disk })).stdout) as { name: string }[]).map((i) => i.name).sort();

async function storeCheckPasses(): Promise<string> {
  const r = await ib(['store', 'check'], { cacheDir: disk });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\nok\n$/);
  return r.stdout;
}

describe('a store on a disk that fills up', () => {
  it('ib pull of an image bigger than the disk fails saying the store is full, and leaves the store consistent', async () => {
    await ibOk(['pull', smallRef], { cacheDir: disk });
    const r = await ib(['pull', bigRef], { cacheDir: disk });
    expect(r.code, r.stderr).toBe(1);
    const full = `the store ${store()} is full: no space left on its disk for blob sha256:`;
    expect(r.stderr).toMatch(new RegExp(`^error: pulling (docker://)?${bigRef}: pulling blob (sha256:[0-9a-f]{64}): ${full.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}[0-9a-f]{64}$`, 'm'));
    expect(r.stderr).toContain('\nhint: free space or use --cache-dir on a larger disk (ib prune deletes blobs no image uses)\n');
    // A sentence, not node's "ENOSPC: no space left on device, write" with a stack.
    expect(r.stderr).not.toMatch(/ENOSPC|\n\s+at /);
    // No temp file of the failed writes, here or anywhere in the cache dir.
    expect(await readdir(join(store(), '.ingest'))).toEqual([]);
    expect(staleTemps(disk)).toEqual([]);
    // The image pulled before is whole, the one cut short is not tagged; blobs it completed are
    // prune's (the check mentions them, they are no problem).
    const check = await storeCheckPasses();
    expect(check).toMatch(/^store .*: \d+ blobs, .*, 1 image/);
    expect(await imageNames()).toEqual([smallRef]);
    // The store lock was not left behind by a write that found no room.
    expect((await readdir(store())).filter((n) => n.startsWith('.lock'))).toEqual([]);
  });

  it('on a disk full to the last byte, ib rm says so and leaves no empty lock; ib store check still runs', async () => {
    const filler = join(disk, 'filler');
    const dd = await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { allowFailure: true });
    expect(dd.stderr).toContain('No space left on device');
    const r = await ib(['rm', smallRef], { cacheDir: disk });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: the store ${store()} is full: no space left on its disk for its lock file\nhint: free space or use --cache-dir on a larger disk (ib prune deletes blobs no image uses)\n`);
    // A check writes nothing: it runs on a full disk (without the lock it cannot take).
    await storeCheckPasses();
    await rm(filler);
    // An empty lock file left by the failed write named no holder and made this wait 10 minutes.
    const again = await ibOk(['rm', smallRef], { cacheDir: disk });
    expect(again.seconds).toBeLessThan(10);
    expect(await imageNames()).toEqual([]);
    await ibOk(['pull', smallRef], { cacheDir: disk });
  });

  it('with room again (the tmpfs grown to 200 MiB), the same pull succeeds', async () => {
    await run('mount', ['-o', 'remount,size=200m', disk]);
    const r = await ibOk(['pull', bigRef], { cacheDir: disk });
    expect(r.stdout.trim()).toBe(big.digest);
    expect(await imageNames()).toEqual([bigRef, smallRef].sort());
    expect(await storeCheckPasses()).toMatch(/^store .*: 8 blobs, .*, 2 images\n/);
    expect(await readdir(join(store(), '.ingest'))).toEqual([]);
  });

  it('ib store check finds a flipped byte in a layer, --repair deletes it, and a pull restores it', async () => {
    const victim = big.manifest.layers[1]!.digest;
    const file = join(store(), 'blobs', 'sha256', victim.slice(7));
    const bytes = await readFile(file);
    bytes[1_000_000] = bytes[1_000_000]! ^ 0x10;
    await writeFile(file, bytes);

    const bad = await ib(['store', 'check'], { cacheDir: disk });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`\ncorrupt: blob ${victim} is corrupt: its ${bytes.length} bytes hash to sha256:[0-9a-f]{64}; image ${bigRef} uses it\n`));
    expect(bad.stdout).toContain(`\n  fix: ib store check --repair deletes it; then ib pull ${bigRef} again if it came from a registry, or rebuild it (ib rm ${bigRef} drops it)\n`);
    expect(bad.stderr).toBe(`error: the store ${store()} has 1 problem\nhint: each problem above says what to do about it\n`);

    const json = await ib(['store', 'check', '--json'], { cacheDir: disk });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ root: store(), images: 2, problems: [{ kind: 'corrupt', subject: victim }], repaired: [] });

    const repaired = await ib(['store', 'check', '--repair'], { cacheDir: disk });
    expect(repaired.code).toBe(1);
    expect(repaired.stdout).toContain(`\nrepaired: deleted ${victim} (corrupt)\n`);
    expect(repaired.stdout).toContain(`\ndangling: image ${bigRef} uses blob ${victim}, which was corrupt and is deleted\n  fix: ib pull ${bigRef} again if it came from a registry`);

    await ibOk(['pull', bigRef], { cacheDir: disk });
    await storeCheckPasses();
    expect((await readFile(file)).equals(bytes)).toBe(false);
  });
});
