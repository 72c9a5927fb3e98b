/**
 * The no-overlayfs path (IB_OVERLAY=off: a copy of the layers below + scan-diff) against the
 * overlay path, on the same derive step from the suite's base: the same layer digest and the same
 * manifest digest. And `ib export` without overlay writes the tree the overlay export writes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { baseTree } from '../helpers/base-tree.js';
import { TEST_CACHE } from '../helpers/cache.js';
import { ibOk, type IbResult } from '../helpers/ib.js';

const base = inject('baseImage');
// Beside the shared cache: hard links need the same filesystem.
const work = mkdtempSync(join(TEST_CACHE, 'e2e-scan-diff-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hex = (d: string) => d.replace(/^sha256:/, '');

/** Hard-link the regular files directly in `src` into `dst` (not `lock`: apt's lock must not be shared). */
function linkFiles(src: string, dst: string): void {
  mkdirSync(dst, { recursive: true });
  if (!existsSync(src)) return;
  for (const name of readdirSync(src)) {
    if (name === 'lock') continue;
    try {
      if (lstatSync(join(src, name)).isFile()) linkSync(join(src, name), join(dst, name));
    } catch (e) {
      // Another test's apt may rename or remove a file while we look.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/**
 * A fresh cache dir holding only the base image (its blobs and unpacked layer dirs hard-linked
 * from the shared cache) and apt's downloads: no step records, so the derive step really runs.
 */
function seedCache(name: string): string {
  const dir = join(work, name);
  const blobs = join(dir, 'store/blobs/sha256');
  mkdirSync(blobs, { recursive: true });
  const shared = (...p: string[]) => join(base.cacheDir, ...p);
  const manifestBytes = readFileSync(shared('store/blobs/sha256', hex(base.digest)));
  const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = JSON.parse(readFileSync(shared('store/blobs/sha256', hex(manifest.config.digest)), 'utf8')) as { rootfs: { diff_ids: string[] } };
  for (const d of [base.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) linkSync(shared('store/blobs/sha256', hex(d)), join(blobs, hex(d)));
  writeFileSync(join(dir, 'store/oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'store/index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: base.digest, size: manifestBytes.length, annotations: { 'org.opencontainers.image.ref.name': base.tag } }],
  }));
  mkdirSync(join(dir, 'layers'));
  for (const id of config.rootfs.diff_ids) {
    if (existsSync(shared('layers', hex(id)))) execFileSync('cp', ['-al', shared('layers', hex(id)), join(dir, 'layers', hex(id))]);
  }
  linkFiles(shared('apt/archives'), join(dir, 'apt/archives'));
  linkFiles(shared('apt/lists'), join(dir, 'apt/lists'));
  return dir;
}

const RUN = 'rm /etc/motd && mkdir -p /opt/sd && echo one > /opt/sd/a && ln /opt/sd/a /opt/sd/b && chmod 0600 /etc/hostname && rm -rf /usr/share/doc/bash';

function derive(cacheDir: string, env: Record<string, string>): Promise<IbResult> {
  return ibOk(['--json', 'derive', 'from', base.tag, '--install', 'htop', '--file', `${join(work, 'issue')}:/etc/issue.d/scan`, '--run', RUN, '--tag', 'test/scan:1'], { cacheDir, env });
}

const stepLayer = (r: IbResult) => r.events.find((e) => e.event === 'step-finished' && e.step === 'derive')?.layer as string | undefined;
const phases = (r: IbResult) => r.events.filter((e) => e.event === 'phase' && e.state === 'finished').map((e) => `${String(e.name)} ${Number(e.seconds).toFixed(1)}s`);

describe('a step without overlayfs (IB_OVERLAY=off)', () => {
  let overlay: IbResult;
  let scan: IbResult;
  beforeAll(async () => {
    writeFileSync(join(work, 'issue'), 'scan-diff test\n');
    overlay = await derive(seedCache('overlay'), {});
    scan = await derive(seedCache('scan'), { IB_OVERLAY: 'off' });
    console.log(`derive step: overlay ${overlay.seconds.toFixed(1)} s, copy + scan-diff ${scan.seconds.toFixed(1)} s (${phases(scan).filter((p) => p.includes('overlayfs')).join(', ')})`);
  });

  it('runs the step on a copy and compares, instead of mounting an overlay', () => {
    expect(overlay.events.filter((e) => e.event === 'step-started').map((e) => e.step)).toEqual(['derive']);
    expect(scan.events.filter((e) => e.event === 'step-started').map((e) => e.step)).toEqual(['derive']);
    expect(phases(scan).some((p) => p.startsWith('copying the tree (no overlayfs)'))).toBe(true);
    expect(phases(scan).some((p) => p.startsWith('comparing the tree (no overlayfs)'))).toBe(true);
    expect(phases(overlay).some((p) => p.includes('overlayfs'))).toBe(false);
  });

  it('gives the same layer digest and the same manifest digest as the overlay path', () => {
    const layer = stepLayer(overlay);
    expect(layer).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(stepLayer(scan)).toBe(layer);
    expect(scan.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(scan.stdout.trim()).toBe(overlay.stdout.trim());
  });

  it('the layer holds the step: package, file, deletions (whiteouts), hard link, mode change', async () => {
    const r = await ibOk(['diff', base.tag, 'test/scan:1', '--json'], { cacheDir: join(work, 'scan') });
    const files = (JSON.parse(r.stdout) as { files: string[] }).files;
    expect(files).toEqual(expect.arrayContaining(['+ /usr/bin/htop', '+ /etc/issue.d/scan', '- /etc/motd', '- /usr/share/doc/bash', '+ /opt/sd/a', '+ /opt/sd/b', '+ /etc/hostname']));
    const ev = scan.events.find((e) => e.event === 'step-finished' && e.step === 'derive')!;
    expect(Number(ev.bytes)).toBeLessThan(1024 * 1024);
  });
});

describe('ib export without overlayfs', () => {
  it('writes the tree the overlay export writes (content, modes, owners, xattrs, mtimes, hard links, devices)', async () => {
    const want = await baseTree();
    const out = join(work, 'export');
    const r = await ibOk(['export', base.tag, out], { cacheDir: base.cacheDir, env: { IB_OVERLAY: 'off' } });
    console.log(`ib export without overlay: ${r.seconds.toFixed(1)} s`);
    // Metadata by find and contents by diff's byte compare: tree-listing.ts hashes 1.3 GB in
    // Node, which took 30 s of this file's 2 shared cores; diff -r reads the same in 3 s.
    const sh = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
    const meta = (d: string) => sh('find', ['.', '-printf', '%p %y %m %U:%G %s %T@ %n %l\\n'], d).split('\n').sort();
    const devices = (d: string) => sh('find', ['.', '(', '-type', 'c', '-o', '-type', 'b', ')', '-exec', 'stat', '-c', '%n %F %t:%T', '{}', '+'], d).split('\n').sort();
    const xattrs = (d: string) => sh('getfattr', ['-R', '-d', '-m', '-', '-e', 'hex', '-h', '.'], d);
    const m = meta(out);
    expect(m.length).toBeGreaterThan(10000);
    expect(m).toEqual(meta(want));
    const dev = devices(out);
    expect(dev).toContain('./dev/null character special file 1:3');
    expect(dev).toEqual(devices(want));
    const x = xattrs(out);
    expect(x).toContain('# file: usr/bin/ping\nsecurity.capability=0x');
    expect(x).toBe(xattrs(want));
    // diff -r says nothing of two devices but that they are devices (compared above).
    const d = spawnSync('diff', ['-rq', '--no-dereference', out, want], { encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(d.stdout.split('\n').filter((l) => l && !/ is a (character|block) special file while file .* is a (character|block) special file$/.test(l))).toEqual([]);
    expect(d.stderr).toBe('');
  });
});
