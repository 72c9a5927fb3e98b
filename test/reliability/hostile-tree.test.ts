/**
 * Hostile trees on the host side. Base images (the shared Debian base plus one layer written by
 * ib's own writeLayer) whose etc/fstab, etc/hostname, usr/sbin/policy-rc.d, etc/resolv.conf —
 * or etc itself — are symlinks to an absolute host path or out through `..`, all aimed at a
 * canary dir on the host. `ib derive from` them with --remove/--file/--run, and build recipes
 * on them that set hostname, users and files: the canary is never touched (content, mode,
 * mtime), nor is the host's /etc/resolv.conf, which package steps see. Device nodes, a fifo,
 * setuid/setgid files and a sticky dir of the base come out exactly as they went in.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { ib, ibOk } from '../helpers/ib.js';
import { checkStore, mountsUnder } from './leftovers.js';
import { seedCache } from './seed.js';
import { stackImage } from './stack-image.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-hostile-'));
const cache = join(work, 'cache');
// Not under /tmp: a step mounts a tmpfs on the tree's /tmp, which would hide where writes went.
const canary = mkdtempSync('/var/tmp/ib-rel-canary-');
const out = (p: string) => `${'../'.repeat(12)}${canary.slice(1)}/${p}`;
const note = join(work, 'note.txt');

type Snapshot = Record<string, string>;
function snapshot(dir: string): Snapshot {
  const s: Snapshot = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = lstatSync(p);
      s[p] = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${st.isFile() ? readFileSync(p, 'utf8') : st.isSymbolicLink() ? readlinkSync(p) : ''}`;
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return s;
}
const resolvBefore = readFileSync('/etc/resolv.conf');
const resolvStat = statSync('/etc/resolv.conf');
let canaryBefore: Snapshot;

function layer(name: string, fill: (dir: string) => void): string {
  const dir = join(work, name);
  mkdirSync(dir);
  fill(dir);
  return dir;
}
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args);

beforeAll(async () => {
  seedCache(base.cacheDir, cache);
  writeFileSync(note, 'written by --file\n');
  for (const f of ['fstab', 'hostname', 'policy-rc.d', 'resolv.conf']) writeFileSync(join(canary, f), `canary ${f}\n`);
  mkdirSync(join(canary, 'etc'));
  writeFileSync(join(canary, 'etc', 'passwd'), 'canary:x:0:0::/:/bin/sh\n');
  writeFileSync(join(canary, 'etc', 'hostname'), 'canary\n');
  mkdirSync(join(canary, 'dpkg'));
  writeFileSync(join(canary, 'dpkg', 'status'), 'Package: canary-leak\nStatus: install ok installed\nVersion: 6.6.6\n\n');
  canaryBefore = snapshot(canary);

  const store = await Store.open(join(cache, 'store'));
  // A: the files ib writes or binds are links out of the tree; plus device nodes and setuid files.
  await stackImage(store, base.tag, layer('a', (d) => {
    mkdirSync(join(d, 'etc'));
    // (No ib write aims at fstab: a changed fstab makes the initramfs again, a minute.)
    symlinkSync(out('fstab'), join(d, 'etc/fstab'));
    symlinkSync(`${canary}/hostname`, join(d, 'etc/hostname'));
    symlinkSync(out('resolv.conf'), join(d, 'etc/resolv.conf'));
    mkdirSync(join(d, 'usr/sbin'), { recursive: true });
    symlinkSync(`${canary}/policy-rc.d`, join(d, 'usr/sbin/policy-rc.d'));
    mkdirSync(join(d, 'dev'));
    sh('mknod', ['-m', '0666', join(d, 'dev/ib-null'), 'c', '1', '3']);
    sh('mknod', ['-m', '0660', join(d, 'dev/ib-loop'), 'b', '7', '0']);
    chownSync(join(d, 'dev/ib-loop'), 0, 6);
    sh('mkfifo', ['-m', '0640', join(d, 'dev/ib-fifo')]);
    mkdirSync(join(d, 'usr/local/bin'), { recursive: true });
    writeFileSync(join(d, 'usr/local/bin/ib-suid'), '#!/bin/sh\n');
    chmodSync(join(d, 'usr/local/bin/ib-suid'), 0o4755);
    writeFileSync(join(d, 'usr/local/bin/ib-sgid'), '#!/bin/sh\n');
    chownSync(join(d, 'usr/local/bin/ib-sgid'), 0, 50);
    chmodSync(join(d, 'usr/local/bin/ib-sgid'), 0o2755);
    mkdirSync(join(d, 'var/ib-sticky'), { recursive: true });
    chmodSync(join(d, 'var/ib-sticky'), 0o1777);
  }), 'rel/hostile-a:1');
  // B: etc itself is an absolute link to the host; dpkg's state dir too (ib reads the status file).
  await stackImage(store, base.tag, layer('b', (d) => {
    symlinkSync(`${canary}/etc`, join(d, 'etc'));
    mkdirSync(join(d, 'var/lib'), { recursive: true });
    symlinkSync(`${canary}/dpkg`, join(d, 'var/lib/dpkg'));
  }), 'rel/hostile-b:1');
  // C: etc leaves the tree through `..`.
  await stackImage(store, base.tag, layer('c', (d) => symlinkSync(out('etc'), join(d, 'etc'))), 'rel/hostile-c:1');
});

afterAll(() => {
  // If ib ever wrote through to the host's resolv.conf, put it back (the test has failed by then).
  if (!readFileSync('/etc/resolv.conf').equals(resolvBefore)) writeFileSync('/etc/resolv.conf', resolvBefore);
  rmSync(work, { recursive: true, force: true });
  rmSync(canary, { recursive: true, force: true });
});

function assertHostUntouched(): void {
  expect(snapshot(canary)).toEqual(canaryBefore);
  expect(readFileSync('/etc/resolv.conf').equals(resolvBefore)).toBe(true);
  expect(statSync('/etc/resolv.conf').mtimeMs).toBe(resolvStat.mtimeMs);
  expect(mountsUnder(work)).toEqual([]);
}

function exported(ref: string): string {
  const dir = join(work, `export-${ref.replace(/[/:]/g, '_')}`);
  execFileSync(process.execPath, [join(import.meta.dirname, '../../dist/cli/main.js'), '--cache-dir', cache, 'export', ref, dir]);
  return dir;
}

function recipe(name: string, from: string): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, `name: rel/${name}
from: ${from}
hostname: ib-rel.example
users:
  - name: reluser
    groups: [users]
files:
  - path: /etc/resolv.conf
    content: "nameserver 127.0.0.53\\n"
  - path: /etc/ib/owned
    content: "x\\n"
    owner: reluser
`);
  return file;
}

describe('a base whose fstab, hostname, policy-rc.d and resolv.conf link out of the tree', () => {
  // --remove makes it a package step (resolv.conf bound in, policy-rc.d in place, apt and dpkg
  // run, a postrm calls invoke-rc.d) without the time of an apt-get update.
  it('ib derive --remove --file --run writes inside the tree only, and keeps the links it did not write', async () => {
    await ibOk(['derive', 'from', 'rel/hostile-a:1', '--remove', 'isc-dhcp-client', '--file', `${note}:/etc/hostname`,
      '--run', 'cat /etc/fstab /usr/sbin/policy-rc.d >/dev/null 2>&1 || true',
      '--run', 'echo "# ib-rel-canary" >> /etc/resolv.conf', '--tag', 'rel/a-derived:1'], { cacheDir: cache });
    assertHostUntouched();
    const t = exported('rel/a-derived:1');
    expect(readFileSync(join(t, 'etc/hostname'), 'utf8')).toBe('written by --file\n');
    expect(lstatSync(join(t, 'etc/hostname')).isFile()).toBe(true);
    expect(readlinkSync(join(t, 'etc/fstab'))).toBe(out('fstab'));
    expect(readlinkSync(join(t, 'etc/resolv.conf'))).toBe(out('resolv.conf'));
    // ib's own policy-rc.d came and went; the base's link is still there.
    expect(readlinkSync(join(t, 'usr/sbin/policy-rc.d'))).toBe(`${canary}/policy-rc.d`);
    expect(existsSync(join(t, 'sbin/dhclient')) || existsSync(join(t, 'usr/sbin/dhclient'))).toBe(false);
    // Nothing of the resolv.conf bind (made at the link's target, inside the tree) stays behind.
    expect(existsSync(join(t, canary.slice(1)))).toBe(false);
  });

  it('device nodes, a fifo, setuid/setgid files and a sticky dir of the base come out exact', () => {
    const t = join(work, 'export-rel_a-derived_1');
    const st = (p: string) => lstatSync(join(t, p));
    expect(st('dev/ib-null').isCharacterDevice()).toBe(true);
    expect([st('dev/ib-null').rdev, st('dev/ib-null').mode & 0o7777]).toEqual([0x103, 0o666]);
    expect(st('dev/ib-loop').isBlockDevice()).toBe(true);
    expect([st('dev/ib-loop').rdev, st('dev/ib-loop').mode & 0o7777, st('dev/ib-loop').gid]).toEqual([0x700, 0o660, 6]);
    expect(st('dev/ib-fifo').isFIFO()).toBe(true);
    expect(st('dev/ib-fifo').mode & 0o7777).toBe(0o640);
    expect([st('usr/local/bin/ib-suid').mode & 0o7777, st('usr/local/bin/ib-suid').uid]).toEqual([0o4755, 0]);
    expect([st('usr/local/bin/ib-sgid').mode & 0o7777, st('usr/local/bin/ib-sgid').gid]).toEqual([0o2755, 50]);
    expect(st('var/ib-sticky').mode & 0o7777).toBe(0o1777);
    // And the file capability of the base's ping.
    expect(execFileSync('getcap', [join(t, 'usr/bin/ping')], { encoding: 'utf8' })).toContain('cap_net_raw=ep');
  });

  it('a recipe setting hostname, users and files replaces the links inside the tree', async () => {
    await ibOk(['build', recipe('a-recipe', 'rel/hostile-a:1')], { cacheDir: cache });
    assertHostUntouched();
    const t = exported('rel/a-recipe:latest');
    expect(readFileSync(join(t, 'etc/hostname'), 'utf8')).toBe('ib-rel.example\n');
    expect(lstatSync(join(t, 'etc/hostname')).isFile()).toBe(true);
    expect(readFileSync(join(t, 'etc/resolv.conf'), 'utf8')).toBe('nameserver 127.0.0.53\n');
    expect(readFileSync(join(t, 'etc/passwd'), 'utf8')).toMatch(/^reluser:x:1000:1000:/m);
  });
});

describe.each([
  ['etc is an absolute link to the host', 'rel/hostile-b:1'],
  ['etc leaves the tree through ..', 'rel/hostile-c:1'],
])('a base where %s', (_what, ref) => {
  it('ib derive --file --run and a recipe with hostname, users and files never reach the host', async () => {
    const d = await ib(['derive', 'from', ref, '--file', `${note}:/etc/motd`, '--run', 'echo ran > /etc/ib-ran', '--tag', `${ref}-derived`], { cacheDir: cache });
    const r = await ib(['build', recipe(ref.replace(/\W/g, '-'), ref)], { cacheDir: cache });
    assertHostUntouched();
    // Either outcome is fine as long as the host is untouched; a failure must say what and where.
    for (const x of [d, r]) if (x.code !== 0) expect(x.stderr).toMatch(/^error: .+/m);
    console.log(ref, 'derive', d.code, d.stderr.split('\n').filter((l) => l.startsWith('error')).join(' '), '| recipe', r.code, r.stderr.split('\n').filter((l) => l.startsWith('error')).join(' '));
    if (d.code === 0) {
      // The package list in the image config comes from the tree, never from the host's files.
      const cfg = (await ibOk(['inspect', `${ref}-derived`, '--config'], { cacheDir: cache })).stdout;
      expect(cfg).not.toContain('canary-leak');
    }
    expect((await checkStore(join(cache, 'store'))).bad).toEqual([]);
  });
});
