import { lstat, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../exec/run.js';
import { baseTree } from '../../test/helpers/base-tree.js';
import { applyServices, unitName } from './services.js';
import { finalizeInstantiation } from './instantiate.js';

// The cached Debian tree is read-only: each test works on an overlay with it as the lower dir.
let tmp: string;
let root: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ib-services-'));
  for (const d of ['u', 'w', 'm']) await mkdir(join(tmp, d));
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${await baseTree()},upperdir=${tmp}/u,workdir=${tmp}/w`, `${tmp}/m`]);
  root = `${tmp}/m`;
});
afterAll(async () => {
  await run('umount', [root]);
  await rm(tmp, { recursive: true, force: true });
});

describe('applyServices with the tree systemctl', () => {
  it('enables, disables and masks offline', async () => {
    await applyServices(root, { enable: ['systemd-networkd', 'systemd-time-wait-sync.service'], disable: ['fstrim.timer'], mask: ['getty@tty1'] });
    expect(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).toBe('/lib/systemd/system/systemd-networkd.service');
    expect(await readlink(join(root, 'etc/systemd/system/getty@tty1.service'))).toBe('/dev/null');
    await applyServices(root, { disable: ['systemd-networkd'] });
    await expect(lstat(join(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).rejects.toThrow('ENOENT');
    await expect(lstat(join(root, 'etc/systemd/system/timers.target.wants/fstrim.timer'))).rejects.toThrow('ENOENT');
    // the other unit enabled with it stays enabled
    expect((await lstat(join(root, 'etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service'))).isSymbolicLink()).toBe(true);
  });

  it('names unknown units before running anything', async () => {
    await expect(applyServices(root, { enable: ['nosuch', 'also-missing.timer', 'systemd-networkd'] })).rejects.toThrow(
      'unknown systemd units "nosuch.service", "also-missing.timer": no unit file in /etc/systemd/system, /run/systemd/system, /usr/local/lib/systemd/system, /usr/lib/systemd/system, /lib/systemd/system of the tree',
    );
  });

  it('enables the ssh-keygen unit the way systemctl would see it', async () => {
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await writeFile(join(root, 'usr/sbin/sshd'), '');
    const r = await finalizeInstantiation(root);
    expect(r.sshKeygenUnit).toBe(true);
    const out = await run('chroot', [root, 'systemctl', 'is-enabled', 'ib-ssh-keygen.service'], { allowFailure: true });
    expect(out.stdout.trim()).toBe('enabled');
  });

  it('unitName adds .service only when no unit type is given', () => {
    expect([unitName('ssh'), unitName('ssh.socket'), unitName('foo.bar')]).toEqual(['ssh.service', 'ssh.socket', 'foo.bar.service']);
  });
});
