/**
 * Hostile layers (issue 8): every case of the generated corpus is extracted from a real store;
 * each is refused with its exact error, or neutralised as the OCI rules say, and afterwards the
 * canary directory outside the extraction root, the store, and the extraction parent are exactly
 * as before (no target, no temp dir, no `pwned` file anywhere).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IbError } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { Store, extractLayer } from '../../src/oci/index.js';
import { hostileCorpus, type HostileCase } from '../fixtures/hostile/generate.js';
import { snapshot } from '../oci/snapshot.js';

const work = await mkdtemp(join(tmpdir(), 'ib-hostile-'));
const canary = join(work, 'canary');
const cases = await hostileCorpus(canary);
let store: Store;
let canaryBefore: Map<string, string>;
let storeBefore: string;
const digests = new Map<string, string>();

async function storeState(): Promise<string> {
  return JSON.stringify([(await store.blobDigests()).sort(), await readFile(join(store.root, 'index.json'), 'utf8')]);
}

beforeAll(async () => {
  await mkdir(join(canary, 'sub'), { recursive: true });
  await writeFile(join(canary, 'CANARY'), 'untouched\n');
  await run('setfattr', ['-n', 'user.canary', '-v', 'original', join(canary, 'CANARY')]);
  await utimes(join(canary, 'CANARY'), 1600000000, 1600000000);
  canaryBefore = await snapshot(canary);
  store = await Store.open(join(work, 'store'));
  for (const c of cases) digests.set(c.name, (await store.putBlob(Readable.from([c.blob]))).digest);
  storeBefore = await storeState();
  await mkdir(join(work, 'extract'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const extract = (c: HostileCase) =>
  extractLayer(store, { mediaType: c.mediaType, digest: digests.get(c.name)!, diffId: c.expectedDiffId }, join(work, 'extract', c.name), {
    maxUncompressedBytes: c.maxUncompressedBytes,
  });

describe('hostile layers', () => {
  test('the corpus covers every attack class of issue 8', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    const names = cases.map((c) => c.name);
    for (const n of ['dotdot', 'absolute', 'symlink-root', 'symlink-dotdot', 'hardlink-dotdot', 'whiteout-dotdot', 'huge-size', 'negative-size', 'pax-absurd-path', 'gzip-bomb', 'diffid-mismatch']) {
      expect(names).toContain(n);
    }
  });

  test.each(cases.filter((c) => c.outcome === 'refused').map((c) => [c.name, c] as const))('%s is refused', async (_n, c) => {
    const err = await extract(c).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IbError);
    expect((err as Error).message).toBe(c.error!(digests.get(c.name)!));
    expect(existsSync(join(work, 'extract', c.name))).toBe(false);
  });

  test('neutralised: a dir replaced by a symlink drops the work queued for its files', async () => {
    await extract(cases.find((c) => c.name === 'dir-then-symlink')!);
    expect(await readlink(join(work, 'extract/dir-then-symlink/d'))).toBe(canary);
  });

  test('neutralised: a file replaces a symlink, it is not written through it', async () => {
    await extract(cases.find((c) => c.name === 'symlink-then-file')!);
    const p = join(work, 'extract/symlink-then-file/x');
    expect((await stat(p)).isFile()).toBe(true);
    expect(await readFile(p, 'utf8')).toBe('pwned\n');
  });

  test('legitimate OS bits (absolute symlinks, devices, setuid) are kept exact', async () => {
    await extract(cases.find((c) => c.name === 'legit-os-bits')!);
    const s = await snapshot(join(work, 'extract/legit-os-bits'), { mtime: false });
    expect(s.get('etc/mtab')).toBe(`symlink 777 0:0 -> ${Buffer.from('/proc/self/mounts').toString('hex')}`);
    expect(s.get('dev/null')).toBe('char 666 0:0 259');
    expect(s.get('su')).toMatch(/^file 4755 0:0 12 /);
  });

  test('afterwards: canary, store and extraction parent are as before', async () => {
    expect(await snapshot(canary)).toEqual(canaryBefore);
    expect(await storeState()).toBe(storeBefore);
    const left = (await readdir(join(work, 'extract'))).sort();
    expect(left).toEqual(cases.filter((c) => c.outcome === 'extracted').map((c) => c.name).sort());
    const pwned = (await run('find', [work, '-name', 'pwned'])).stdout.trim();
    expect(pwned).toBe('');
  });
});
