import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Run } from '../exec/run.js';
import { FileSpec } from '../recipe/schema.js';
import { applyFiles } from './files.js';
import { finalizeInstantiation } from './instantiate.js';
import { applyHostname, applyKernelCmdline, applyKeyboard, applyLocale, applyTimezone } from './settings.js';
import { applyCustomizations } from './customize.js';

let tmp: string;
let root: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ib-customize-'));
  root = join(tmp, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nwww-data:x:33:\nadm:x:4:\n');
  return () => rm(tmp, { recursive: true, force: true });
});

const files = (specs: unknown[]) => specs.map((s) => FileSpec.parse(s));

describe('applyFiles', () => {
  it('writes content, source, symlink and directory with mode and owner', async () => {
    await writeFile(join(tmp, 'motd.txt'), 'hello from source\n');
    await applyFiles(root, files([
      { path: '/etc/motd', source: 'motd.txt' },
      { path: '/var/www/index.html', content: '<h1>hi</h1>\n', owner: 'www-data:adm', mode: '0640' },
      { path: '/var/www/data', directory: true, owner: '33:33', mode: '2775' },
      { path: '/etc/nginx/default', symlink: '../sites/default', owner: 'www-data' },
    ]), tmp);
    expect(await readFile(join(root, 'etc/motd'), 'utf8')).toBe('hello from source\n');
    const idx = await stat(join(root, 'var/www/index.html'));
    expect([idx.mode & 0o7777, idx.uid, idx.gid]).toEqual([0o640, 33, 4]);
    const data = await stat(join(root, 'var/www/data'));
    expect([data.isDirectory(), data.mode & 0o7777, data.uid, data.gid]).toEqual([true, 0o2775, 33, 33]);
    const link = await lstat(join(root, 'etc/nginx/default'));
    expect([link.isSymbolicLink(), link.uid, link.gid]).toEqual([true, 33, 33]);
    expect(await readlink(join(root, 'etc/nginx/default'))).toBe('../sites/default');
  });

  it('names an unknown owner and a missing source', async () => {
    await expect(applyFiles(root, files([{ path: '/etc/x', content: '', owner: 'nobody2' }]), tmp)).rejects.toThrow(
      `files: /etc/x: no user "nobody2" in the tree's /etc/passwd`,
    );
    await expect(applyFiles(root, files([{ path: '/etc/x', source: 'nope.conf' }]), tmp)).rejects.toThrow(
      `files: /etc/x: source "nope.conf" not found (looked for ${join(tmp, 'nope.conf')})`,
    );
  });

  it('replaces a symlink to a host file instead of writing through it', async () => {
    await writeFile(join(tmp, 'canary'), 'host\n');
    await symlink(join(tmp, 'canary'), join(root, 'etc/fstab'));
    await applyFiles(root, files([{ path: '/etc/fstab', content: 'LABEL=root / ext4 defaults 0 1\n' }]), tmp);
    expect(await readFile(join(tmp, 'canary'), 'utf8')).toBe('host\n');
    expect((await lstat(join(root, 'etc/fstab'))).isFile()).toBe(true);
  });
});

describe('settings', () => {
  it('hostname goes to /etc/hostname and the 127.0.1.1 line of /etc/hosts', async () => {
    await writeFile(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost\n');
    await applyHostname(root, 'web1.example.org');
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('web1.example.org\n');
    expect(await readFile(join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.org web1\n::1\tlocalhost\n');
    await applyHostname(root, 'db');
    expect(await readFile(join(root, 'etc/hosts'), 'utf8')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tdb\n::1\tlocalhost\n');
  });

  it('timezone links /etc/localtime and writes /etc/timezone; an unknown zone is named', async () => {
    await mkdir(join(root, 'usr/share/zoneinfo/Europe'), { recursive: true });
    await writeFile(join(root, 'usr/share/zoneinfo/Europe/Berlin'), 'TZif2');
    await applyTimezone(root, 'Europe/Berlin');
    expect(await readlink(join(root, 'etc/localtime'))).toBe('/usr/share/zoneinfo/Europe/Berlin');
    expect(await readFile(join(root, 'etc/timezone'), 'utf8')).toBe('Europe/Berlin\n');
    await expect(applyTimezone(root, 'Mars/Olympus')).rejects.toThrow('unknown timezone "Mars/Olympus": /usr/share/zoneinfo/Mars/Olympus does not exist in the tree');
    await expect(applyTimezone(root, '../../etc/passwd')).rejects.toThrow('unknown timezone "../../etc/passwd"');
  });

  it('locale: /etc/default/locale, locale.gen enabled and locale-gen run in a chroot when locales is installed', async () => {
    const calls: string[][] = [];
    const run: Run = async (cmd, args) => {
      calls.push([cmd, ...args]);
      return { stdout: '', stderr: '', exitCode: 0 };
    };
    await applyLocale(root, 'C.UTF-8', { run });
    expect(await readFile(join(root, 'etc/default/locale'), 'utf8')).toBe('LANG=C.UTF-8\n');
    expect(calls).toEqual([]);

    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await mkdir(join(root, 'usr/share/i18n'), { recursive: true });
    await writeFile(join(root, 'usr/sbin/locale-gen'), '');
    await writeFile(join(root, 'usr/share/i18n/SUPPORTED'), 'de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nen_US ISO-8859-1\n');
    await writeFile(join(root, 'etc/locale.gen'), '# This file lists locales\n# de_DE.UTF-8 UTF-8\n# en_US.UTF-8 UTF-8\n');
    await applyLocale(root, 'en_US.UTF-8', { run });
    expect(await readFile(join(root, 'etc/default/locale'), 'utf8')).toBe('LANG=en_US.UTF-8\n');
    expect(await readFile(join(root, 'etc/locale.gen'), 'utf8')).toBe('# This file lists locales\n# de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\n');
    expect(calls).toEqual([['chroot', root, 'locale-gen']]);
    await expect(applyLocale(root, 'xx_YY.UTF-8', { run })).rejects.toThrow(`unknown locale "xx_YY.UTF-8": not listed in the tree's /usr/share/i18n/SUPPORTED`);
  });

  it('keyboard sets XKBLAYOUT, keeping the rest of the file', async () => {
    await applyKeyboard(root, 'de');
    expect(await readFile(join(root, 'etc/default/keyboard'), 'utf8')).toContain('XKBLAYOUT="de"\n');
    await writeFile(join(root, 'etc/default/keyboard'), 'XKBMODEL="pc105"\nXKBLAYOUT="us"\nXKBVARIANT="intl"\n');
    await applyKeyboard(root, 'fr');
    expect(await readFile(join(root, 'etc/default/keyboard'), 'utf8')).toBe('XKBMODEL="pc105"\nXKBLAYOUT="fr"\nXKBVARIANT="intl"\n');
  });

  it('kernel cmdline for kernel-install and bootc', async () => {
    await applyKernelCmdline(root, ['console=ttyS0,115200n8', 'quiet', 'x="a b"']);
    expect(await readFile(join(root, 'etc/kernel/cmdline'), 'utf8')).toBe('console=ttyS0,115200n8 quiet x="a b"\n');
    expect(await readFile(join(root, 'usr/lib/bootc/kargs.d/10-ib.toml'), 'utf8')).toBe('kargs = ["console=ttyS0,115200n8", "quiet", "x=\\"a b\\""]\n');
  });

  it('applyCustomizations runs users before files so owner names resolve', async () => {
    await applyCustomizations(root, {
      users: [{ name: 'app', uid: 900, groups: [], shell: '/bin/sh', sshKeys: [], system: true }],
      files: files([{ path: '/srv/app.conf', content: 'x', owner: 'app' }]),
      hostname: 'box',
    }, { baseDir: tmp, sourceDateEpoch: 1700000000 });
    const st = await stat(join(root, 'srv/app.conf'));
    expect([st.uid, st.gid]).toEqual([900, 900]);
    expect(await readFile(join(root, 'etc/hostname'), 'utf8')).toBe('box\n');
  });
});

describe('finalizeInstantiation', () => {
  it('empties machine-id, removes host keys, seeds and dbus copies, and adds the ssh-keygen unit when sshd is there', async () => {
    await mkdir(join(root, 'etc/ssh'), { recursive: true });
    await mkdir(join(root, 'var/lib/dbus'), { recursive: true });
    await mkdir(join(root, 'var/lib/systemd'), { recursive: true });
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await writeFile(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n', { mode: 0o444 });
    await writeFile(join(root, 'var/lib/dbus/machine-id'), '0123456789abcdef0123456789abcdef\n');
    await writeFile(join(root, 'var/lib/systemd/random-seed'), 'seed');
    for (const k of ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key']) await writeFile(join(root, 'etc/ssh', k), 'k');
    await writeFile(join(root, 'etc/ssh/sshd_config'), 'cfg');
    await writeFile(join(root, 'usr/sbin/sshd'), '');

    const r = await finalizeInstantiation(root);
    expect(r.removed).toEqual([
      '/var/lib/dbus/machine-id', '/var/lib/systemd/random-seed',
      '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub', '/etc/ssh/ssh_host_rsa_key',
    ]);
    const mid = await stat(join(root, 'etc/machine-id'));
    expect([mid.isFile(), mid.size, mid.mode & 0o777]).toEqual([true, 0, 0o444]);
    expect(await readFile(join(root, 'etc/ssh/sshd_config'), 'utf8')).toBe('cfg');
    const unit = await readFile(join(root, 'usr/lib/systemd/system/ib-ssh-keygen.service'), 'utf8');
    expect(unit).toContain('ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key\n');
    expect(unit).toContain('ExecStart=/usr/bin/ssh-keygen -A\n');
    expect(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/ib-ssh-keygen.service'))).toBe('/usr/lib/systemd/system/ib-ssh-keygen.service');
  });

  it('keeps the dbus machine-id link and adds no unit without sshd', async () => {
    await mkdir(join(root, 'var/lib/dbus'), { recursive: true });
    await symlink('/etc/machine-id', join(root, 'var/lib/dbus/machine-id'));
    const r = await finalizeInstantiation(root);
    expect(r).toEqual({ removed: [], sshKeygenUnit: false });
    expect((await stat(join(root, 'etc/machine-id'))).size).toBe(0);
    expect(await readlink(join(root, 'var/lib/dbus/machine-id'))).toBe('/etc/machine-id');
    await expect(lstat(join(root, 'etc/systemd'))).rejects.toThrow('ENOENT');
  });
});
