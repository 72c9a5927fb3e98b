/**
 * Encapsulation into an ostree-native container image, checked independently of ib: skopeo reads
 * the labels, GNU tar extracts layers 0..final-diffid into a bare-split-xattrs repo that
 * `ostree fsck` accepts and `pull-local` turns back into the very same commit.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { run } from '../../src/exec/run.js';
import { imageLayers, readImageByName, Store, writeImage, writeLayer } from '../../src/oci/index.js';
import { encapsulate, importContainer, LABELS, ostreeCommit, type EncapsulatedImage } from '../../src/ostree/index.js';
import { pullImage, pushImage } from '../../src/registry/index.js';
import { ostreeTestCommit, removeSysroot } from '../helpers/ostree-tree.js';
import { startRegistry } from '../helpers/registry.js';

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

test('round trip through a real registry: push, pull into another store, import into a fresh repo', async () => {
  const reg = await startRegistry();
  try {
    const ref = `${reg.address}/ib/ostree-test:1`;
    const t0 = performance.now();
    await pushImage(store, img.manifest.digest, ref);
    const other = await Store.open(join(work, 'store-2'));
    const pulled = await pullImage(other, ref, { tag: 'pulled' });
    expect(pulled.descriptor.digest).toBe(img.manifest.digest);
    const repo = join(work, 'imported');
    const t1 = performance.now();
    const res = await importContainer({ store: other, image: 'pulled', repo, branch: 'debian/12/x86_64', mode: 'bare-user' });
    console.log(`push+pull ${((t1 - t0) / 1000).toFixed(1)}s, import ${((performance.now() - t1) / 1000).toFixed(1)}s`);
    expect(res).toEqual({ commit: src.commit, baseCommit: src.commit, derivedLayers: 0 });
    expect((await ostree(`--repo=${repo}`, 'rev-parse', 'debian/12/x86_64')).trim()).toBe(src.commit);
    expect(await ostree(`--repo=${repo}`, 'ls', '-R', '-X', src.commit)).toBe(await ostree(`--repo=${src.repo}`, 'ls', '-R', '-X', src.commit));
    expect(await ostree(`--repo=${repo}`, 'fsck')).toContain('no errors found');
  } finally {
    await reg.stop();
  }
}, 900_000);

test('an image that is not ostree-native is refused before the repo is created', async () => {
  const dir = join(work, 'plain-layer');
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc/hostname'), 'plain\n');
  const layer = await writeLayer(dir, store, { sourceDateEpoch: 1700000000 });
  const plain = await writeImage(store, { layers: [{ descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, diffId: layer.diffId }], created: 1700000000 });
  await store.tag('plain', plain.manifest);
  const repo = join(work, 'never');
  await expect(importContainer({ store, image: 'plain', repo })).rejects.toMatchObject({
    message: 'plain is not an ostree-native container image (it has no ostree.commit label)',
    hint: 'make one from an ostree commit with `ib ostree container`, or commit a plain image with `ib ostree commit`',
  });
  expect(existsSync(repo)).toBe(false);
});

test('layers derived on top of a bootable image are committed as a child of its commit', async () => {
  // What `ib derive` on the bootable image would add: a file in /etc (the container's view),
  // a program, a deleted doc dir (whiteout), and apt noise in /var that must not reach the commit.
  const dir = join(work, 'derived-layer');
  for (const d of ['etc', 'usr/bin', 'usr/share/doc', 'var/log']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'etc/motd'), 'derived\n');
  writeFileSync(join(dir, 'usr/bin/ib-hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
  writeFileSync(join(dir, 'var/log/apt.log'), 'noise\n');
  execFileSync('mknod', [join(dir, 'usr/share/doc/bash'), 'c', '0', '0']);
  const layer = await writeLayer(dir, store, { sourceDateEpoch: 1700000100 });
  const base = await readImageByName(store, 'ostree-test');
  const derived = await writeImage(store, {
    layers: [
      ...imageLayers(base).map((l, i) => ({ descriptor: base.manifest.layers[i]!, diffId: l.diffId })),
      { descriptor: { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, diffId: layer.diffId },
    ],
    history: [...(base.config.history ?? []), { created_by: 'ib derive' }],
    labels: base.config.config?.Labels ?? {},
    created: 1700000100,
  });
  await store.tag('derived', derived.manifest);
  const repo = join(work, 'derived-repo');
  const res = await importContainer({ store, image: 'derived', repo, branch: 'derived', mode: 'bare-user' });
  expect(res.baseCommit).toBe(src.commit);
  expect(res.derivedLayers).toBe(1);
  expect(res.commit).not.toBe(src.commit);
  const log = await ostree(`--repo=${repo}`, 'log', 'derived');
  expect(log.match(/^commit /gm)).toHaveLength(2);
  expect(log).toContain(`commit ${src.commit}`);
  expect(await ostree(`--repo=${repo}`, 'cat', 'derived', '/usr/etc/motd')).toBe('derived\n');
  expect(await ostree(`--repo=${repo}`, 'ls', 'derived', '/usr/bin/ib-hello')).toMatch(/^-00755 0 0 /);
  expect((await run('ostree', [`--repo=${repo}`, 'ls', 'derived', '/usr/share/doc/bash'], { allowFailure: true })).exitCode).not.toBe(0);
  expect(await ostree(`--repo=${repo}`, 'ls', 'derived', '/var')).not.toContain('/var/log');
  expect((await ostree(`--repo=${repo}`, 'show', 'derived', '--print-metadata-key=version')).trim()).toBe("'12.20231114.0'");
  // Importing the same derived image again gives the same commit.
  const again = await importContainer({ store, image: 'derived', repo: join(work, 'derived-repo-2'), branch: 'derived', mode: 'bare-user' });
  expect(again.commit).toBe(res.commit);
}, 900_000);

test('with the previous image, a rebuild with one package changed changes layer 0 and one chunk layer', async () => {
  const previous = (await readImageByName(store, 'ostree-test')).manifest;
  const tree = join(work, 'prepared-v2');
  await run('cp', ['-a', '--reflink=auto', src.prepared, tree]);
  // An "upgrade" of iproute2: one of its files changes (found through its dpkg file list).
  const listed = readFileSync(join(tree, 'usr/lib/sysimage/dpkg/info/iproute2.list'), 'utf8').split('\n');
  appendFileSync(join(tree, listed.find((l) => l.endsWith('/copyright'))!), 'upgraded\n');
  const commit = await ostreeCommit({ tree, repo: src.repo, branch: 'debian/12/x86_64-v2', mode: 'bare-user', version: '12.20231115.0', sourceDateEpoch: 1700000000 });
  const v2 = await encapsulate({ repo: src.repo, ref: commit, store, tag: 'ostree-test-v2', previous });
  const before = previous.layers.map((l) => l.digest);
  const after = v2.layers.map((l) => l.digest);
  expect(after).toHaveLength(before.length);
  expect(after[0]).not.toBe(before[0]);
  const changed = v2.layers.slice(1).filter((l, i) => l.digest !== before[i + 1]);
  expect(changed.length).toBeGreaterThanOrEqual(1);
  expect(changed.length).toBeLessThanOrEqual(2);
  expect(changed.flatMap((l) => l.packages)).toContain('iproute2');
  expect(v2.layers.slice(1).map((l) => l.packages)).toEqual(img.layers.slice(1).map((l) => l.packages));
}, 900_000);
