/**
 * `ib derive from REGISTRY/IMAGE --install …`: the base's layers are reused by digest, the delta is
 * one small layer holding only what apt changed, and a second derive is a cache hit.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ib, ibOk } from '../helpers/ib.js';

const base = inject('baseImage');
const registry = inject('registry');
const work = mkdtempSync(join(tmpdir(), 'ib-e2e-derive-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Inspect {
  layers: { digest: string; diffId: string; size: number; createdBy?: string }[];
  annotations: Record<string, string>;
}

describe('ib derive from a registry image', () => {
  const baseRef = `${registry}/derive/base:1`;
  let baseInfo: Inspect;
  beforeAll(async () => {
    await ibOk(['push', base.tag, baseRef], { cacheDir: base.cacheDir });
    baseInfo = JSON.parse((await ibOk(['inspect', base.tag], { cacheDir: base.cacheDir })).stdout) as Inspect;
  });

  it('adds exactly one small layer with only the package delta, and pushes it', async () => {
    const r = await ibOk(['--json', 'derive', 'from', baseRef, '--install', 'htop', '--tag', 'test/tools:1', '--push', `${registry}/derive/tools:1`], { cacheDir: base.cacheDir });
    const info = JSON.parse((await ibOk(['inspect', 'test/tools:1'], { cacheDir: base.cacheDir })).stdout) as Inspect;
    expect(info.layers.slice(0, baseInfo.layers.length).map((l) => l.digest)).toEqual(baseInfo.layers.map((l) => l.digest));
    expect(info.layers.length).toBe(baseInfo.layers.length + 1);
    const delta = info.layers.at(-1)!;
    expect(delta.size).toBeLessThan(1024 * 1024);
    expect(info.annotations['org.opencontainers.image.base.name']).toBe(`docker://${baseRef}`);
    expect(info.annotations['org.opencontainers.image.base.digest']).toBe(base.digest);
    // The registry has the same manifest: base layers by digest plus the new one.
    const remote = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${registry}/derive/tools:1`], { encoding: 'utf8' })) as { Layers: string[]; Digest: string };
    expect(remote.Layers).toEqual(info.layers.map((l) => l.digest));
    expect(remote.Digest).toBe(r.stdout.trim());
    // The initramfs is not made again for a package that does not touch it.
    expect(r.events.filter((e) => e.event === 'step-started').map((e) => e.step)).toEqual(['derive']);
  });

  it('the delta layer holds htop and dpkg state, and no apt lists, debs, logs or policy-rc.d', async () => {
    const r = await ibOk(['diff', base.tag, 'test/tools:1', '--json'], { cacheDir: base.cacheDir });
    const d = JSON.parse(r.stdout) as { packages: { added: string[]; removed: string[] }; files: string[] };
    expect(d.packages.added.map((p) => p.split('=')[0])).toEqual(expect.arrayContaining(['htop']));
    expect(d.packages.removed).toEqual([]);
    const files = d.files.map((f) => f.slice(2));
    expect(files).toContain('/usr/bin/htop');
    expect(files).toContain('/var/lib/dpkg/status');
    expect(files).toContain('/var/lib/dpkg/info/htop.list');
    const noise = files.filter((f) => /^\/var\/lib\/apt\/lists\/[^/]+$|\.deb$|^\/usr\/sbin\/policy-rc\.d$|^\/var\/log\/|aux-cache|status-old|^\/etc\/machine-id$/.test(f) && !/\/(lock|partial)$/.test(f));
    expect(noise).toEqual([]);
    // Everything in the layer belongs to htop's install: its files, its libraries, dpkg's records.
    const unexpected = files.filter((f) => !/htop|libnl|^\/var\/lib\/dpkg\/|^\/usr\/share\/(doc|man|applications|icons|pixmaps)\/|^\/usr\/lib\/x86_64-linux-gnu\/|^\/etc\/ld\.so\.cache$|^\/var\/cache\/debconf\/|^\/etc\/alternatives\/|^\/var\/lib\/dpkg$|^\/var\/lib\/apt\/extended_states$/.test(f));
    expect(unexpected).toEqual([]);
  });

  it('a second identical derive is a cache hit (timed by bench/derive.sh)', async () => {
    const r = await ibOk(['--json', 'derive', 'from', baseRef, '--install', 'htop', '--tag', 'test/tools:1'], { cacheDir: base.cacheDir });
    expect(r.events.filter((e) => e.event === 'step-started')).toEqual([]);
  });

  it('names a package that is not installed when asked to remove it, and exits 1', async () => {
    const r = await ib(['derive', 'from', base.tag, '--remove', 'nano'], { cacheDir: base.cacheDir });
    expect(r.stderr).toContain('cannot remove "nano": not installed in this image');
    expect(r.code).toBe(1);
  });
});
