/**
 * The foundation's acceptance, end to end: debian-minimal built by ib (the suite's shared base
 * image), rebuilt from cache, pushed to the real registry, read back by skopeo + umoci, and
 * compared with ib's own tree.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ib, ibOk } from '../helpers/ib.js';
import { diffListings, treeListing } from '../helpers/tree-listing.js';

const base = inject('baseImage');
const registry = inject('registry');
const work = mkdtempSync(join(tmpdir(), 'ib-e2e-build-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('ib build recipes/debian-minimal.yaml', () => {
  // Wall time is measured by bench/build.sh (no-op row), not asserted here: CI load makes it noise.
  it('rebuilds from cache: every step a hit, same manifest digest', async () => {
    const r = await ibOk(['--json', 'build', 'recipes/debian-minimal.yaml', '--tag', base.tag], { cacheDir: base.cacheDir });
    const started = r.events.filter((e) => e.event === 'step-started');
    const cached = r.events.filter((e) => e.event === 'step-cached' || (e.event === 'step-finished' && e.step === 'initramfs'));
    expect(started).toEqual([]);
    expect(cached.length).toBeGreaterThanOrEqual(5);
    expect(r.stdout.trim()).toBe(base.digest);
  });

  it('keeps the kernel in a layer of its own and no volatile files in any layer', async () => {
    const r = await ibOk(['inspect', base.tag], { cacheDir: base.cacheDir });
    const info = JSON.parse(r.stdout) as { layers: { size: number; createdBy?: string }[] };
    expect(info.layers.length).toBeGreaterThanOrEqual(5);
    expect(info.layers.map((l) => l.createdBy)).toContain('ib platform/kernel.yaml: install linux-image-amd64 initramfs-tools, 1 file(s)');
  });

  it('pushes to a real registry; skopeo + umoci read the same tree ib has', async () => {
    const ref = `${registry}/t/base:1`;
    const push = await ibOk(['push', base.tag, ref], { cacheDir: base.cacheDir });
    expect(push.stdout.trim()).toBe(base.digest);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(base.digest);
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${work}/oci:base`], { stdio: 'ignore' });
    execFileSync('umoci', ['unpack', '--image', `${work}/oci:base`, `${work}/bundle`], { stdio: 'ignore' });
    const theirs = await treeListing(join(work, 'bundle/rootfs'));
    await ibOk(['export', base.tag, join(work, 'ours')], { cacheDir: base.cacheDir });
    const ours = await treeListing(join(work, 'ours'));
    expect(diffListings(ours, theirs)).toEqual([]);
    expect(theirs.size).toBeGreaterThan(10000);
    // File capabilities survive the whole chain.
    expect(execFileSync('getcap', [join(work, 'bundle/rootfs/usr/bin/ping')], { encoding: 'utf8' })).toContain('cap_net_raw=ep');
  });

  it('has no machine-id, no SSH keys, no apt lists or logs, and the recipe settings', async () => {
    const t = join(work, 'ours');
    const l = await treeListing(t, { exclude: /^(usr\/(lib|share)|lib)\// });
    expect(l.get('etc/machine-id')).toMatch(/^file \S+ 0:0 0 /);
    expect([...l.keys()].filter((p) => p.startsWith('var/lib/apt/lists/') && !/\/(lock|partial)$/.test(p))).toEqual([]);
    expect([...l.keys()].filter((p) => /^var\/log\/(dpkg\.log|apt\/)/.test(p) && l.get(p)!.startsWith('file'))).toEqual([]);
    expect([...l.keys()].filter((p) => p.startsWith('etc/ssh/ssh_host_'))).toEqual([]);
    expect(execFileSync('cat', [join(t, 'etc/hostname')], { encoding: 'utf8' })).toBe('debian\n');
  });
});

describe('bad input leaves the store unchanged', () => {
  const cacheDir = join(work, 'bad-cache');
  const recipe = (name: string, text: string) => {
    const p = join(work, `${name}.yaml`);
    execFileSync('sh', ['-c', `cat > ${p}`], { input: text });
    return p;
  };
  const storeListing = async () => treeListing(join(cacheDir, 'store')).catch(() => new Map<string, string>());

  it.each([
    ['unknown key', 'name: x\nbootstrap: {suite: bookworm}\npackages:\n  instal: [htop]\n', /unknown-key\.yaml:4 \.packages\.instal: unknown key "instal"; valid keys: install, remove/, 2],
    ['wrong type', 'name: x\nbootstrap: {suite: bookworm}\nhostname: [a, b]\n', /wrong-type\.yaml:3 \.hostname: expected string, got a list/, 2],
    ['missing fragment', 'name: x\nbootstrap: {suite: bookworm}\nlayers: [platform/nonexistent]\n', /\.layers\[0\]: layer fragment "platform\/nonexistent" not found/, 2],
    ['unreachable mirror', 'name: x\nbootstrap: {suite: bookworm, mirror: "http://127.0.0.1:9/debian"}\n', /cannot reach mirror http:\/\/127\.0\.0\.1:9\/debian \(suite bookworm\)/, 1],
  ])('%s', async (name, text, message, code) => {
    const before = await storeListing();
    const r = await ib(['build', recipe(name.replace(' ', '-'), text)], { cacheDir });
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(code);
    expect(diffListings(await storeListing(), before).filter((d) => !d.startsWith('index.json') && !d.startsWith('oci-layout') && !d.startsWith('blobs:') && !d.startsWith('blobs/sha256:'))).toEqual([]);
  });
});

describe('a package that does not exist', () => {
  it('fails naming it, exit 1, and writes nothing to the store', async () => {
    const p = join(work, 'nopkg.yaml');
    execFileSync('sh', ['-c', `cat > ${p}`], { input: `name: nopkg\nfrom: ${base.tag}\npackages: {install: [htop, ib-no-such-package]}\n` });
    const before = await treeListing(join(base.cacheDir, 'store'));
    const r = await ib(['build', p], { cacheDir: base.cacheDir });
    expect(r.stderr).toContain('package "ib-no-such-package" not found in the configured mirrors');
    expect(r.code).toBe(1);
    expect(diffListings(await treeListing(join(base.cacheDir, 'store')), before)).toEqual([]);
  });
});
