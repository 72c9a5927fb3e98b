/**
 * Encapsulation into an ostree-native container image, checked independently of ib: skopeo reads
 * the labels, GNU tar extracts layers 0..final-diffid into a bare-split-xattrs repo that
 * `ostree fsck` accepts and `pull-local` turns back into the very same commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { run } from '../../src/exec/run.js';
import { readImageByName, Store } from '../../src/oci/index.js';
import { encapsulate, LABELS, type EncapsulatedImage } from '../../src/ostree/index.js';
import { ostreeTestCommit, removeSysroot } from '../helpers/ostree-tree.js';

let work: string;
let store: Store;
let src: Awaited<ReturnType<typeof ostreeTestCommit>>;
let img: EncapsulatedImage;

const ostree = async (...args: string[]) => (await run('ostree', args)).stdout;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-ostree-container-'));
  src = await ostreeTestCommit(work);
  store = await Store.open(join(work, 'store'));
  const t0 = performance.now();
  img = await encapsulate({ repo: src.repo, ref: src.branch, store, tag: 'ostree-test' });
  console.log(`encapsulate ${((performance.now() - t0) / 1000).toFixed(1)}s, ${img.layers.length} layers, manifest ${img.manifest.digest}`);
}, 1_800_000);

afterAll(async () => {
  if (work && !process.env.IB_KEEP) await removeSysroot(work);
});

test('labels and annotations say what the image is; skopeo reads them', async () => {
  const stored = await readImageByName(store, 'ostree-test');
  const labels = stored.config.config?.Labels ?? {};
  expect(labels[LABELS.commit]).toBe(src.commit);
  expect(labels[LABELS.bootable]).toBe('true');
  expect(labels[LABELS.bootc]).toBe('1');
  expect(labels[LABELS.linux]).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
  expect(labels[LABELS.version]).toBe('12.20231114.0');
  expect(labels[LABELS.finalDiffId]).toBe(stored.config.rootfs.diff_ids.at(-1));
  expect(stored.manifest.annotations).toEqual(labels);
  expect(stored.manifest.layers.length).toBeLessThanOrEqual(64);
  expect(stored.manifest.layers.length).toBeGreaterThan(10);
  expect(stored.manifest.layers[0]!.annotations).toBeUndefined();
  for (const l of stored.manifest.layers.slice(1)) expect(l.annotations?.['ostree.components']).toMatch(/^[a-z0-9][a-z0-9+.,-]*$/);
  expect(stored.config.created).toBe('2023-11-14T22:13:20.000Z');

  const inspect = JSON.parse((await run('skopeo', ['inspect', `oci:${store.root}:ostree-test`])).stdout) as { Labels: Record<string, string>; Layers: string[] };
  expect(inspect.Labels).toMatchObject({ 'containers.bootc': '1', 'ostree.bootable': 'true', 'ostree.commit': src.commit });
  expect(inspect.Layers).toEqual(stored.manifest.layers.map((l) => l.digest));
  const kernelLayer = img.layers.find((l) => l.packages.some((p) => p.startsWith('linux-image-')));
  expect(kernelLayer?.packages).toHaveLength(1);
});

test('the same commit encapsulated again gives the same manifest digest', async () => {
  const again = await encapsulate({ repo: src.repo, ref: src.branch, store, tag: 'ostree-test-again' });
  expect(again.manifest.digest).toBe(img.manifest.digest);
}, 900_000);

test('GNU tar + ostree alone turn the layers back into the same commit; the order rules hold', async () => {
  const stored = await readImageByName(store, 'ostree-test');
  const x = join(work, 'gnu-extract');
  mkdirSync(x);
  for (const [i, l] of stored.manifest.layers.entries()) {
    const blob = store.blobPath(l.digest);
    const names = execFileSync('tar', ['-tzf', blob], { maxBuffer: 1 << 28, encoding: 'utf8' }).trim().split('\n');
    const objs = names.filter((n) => n.startsWith('sysroot/ostree/repo/objects/') && n.length > 'sysroot/ostree/repo/objects/xx/'.length);
    if (i === 0) {
      expect(names[0]).toBe('./');
      expect(objs[0]).toMatch(/\.commit$/);
      expect(objs[0]).toBe(`sysroot/ostree/repo/objects/${src.commit.slice(0, 2)}/${src.commit.slice(2)}.commit`);
      expect(names).toContain('var/tmp/');
    } else {
      expect(objs.filter((n) => /\.(commit|commitmeta|dirtree|dirmeta)$/.test(n))).toEqual([]);
    }
    names.forEach((n, j) => {
      if (n.endsWith('.file')) expect(names[j - 1]).toBe(n.replace(/\.file$/, '.file-xattrs-link'));
    });
    execFileSync('tar', ['-xzf', blob, '-C', x, '--numeric-owner', '--same-permissions', '--same-owner']);
  }
  const repo = join(x, 'sysroot/ostree/repo');
  expect(readFileSync(join(repo, 'config'), 'utf8')).toBe('[core]\nrepo_version=1\nmode=bare-split-xattrs\n');
  const fsck = await ostree(`--repo=${repo}`, 'fsck', '--all');
  expect(fsck).toContain('no errors found');
  const fresh = join(work, 'fresh');
  await ostree(`--repo=${fresh}`, 'init', '--mode=bare-user');
  await ostree(`--repo=${fresh}`, 'pull-local', '--untrusted', repo, src.commit);
  const lsOrig = await ostree(`--repo=${src.repo}`, 'ls', '-R', '-X', src.commit);
  expect(await ostree(`--repo=${fresh}`, 'ls', '-R', '-X', src.commit)).toBe(lsOrig);
  expect(await ostree(`--repo=${fresh}`, 'fsck')).toContain('no errors found');
}, 900_000);
