import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../exec/run.js';
import { baseTree } from '../../test/helpers/base-tree.js';
import { applyGroups, applyUsers } from './accounts.js';
import { User } from '../recipe/schema.js';

const SDE = 1700000000; // day 19675

async function fakeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'etc/skel'), { recursive: true });
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\ndaemon:x:1:\nshadow:x:42:\nsudo:x:27:\n');
  await writeFile(join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n', { mode: 0o640 });
  await writeFile(join(dir, 'etc/gshadow'), 'root:*::\ndaemon:*::\nshadow:*::\nsudo:*::\n', { mode: 0o640 });
  await writeFile(join(dir, 'etc/login.defs'), '# test\nUID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nUMASK 022\nPASS_MAX_DAYS 99999\n');
  await writeFile(join(dir, 'etc/skel/.profile'), 'profile\n');
  await mkdir(join(dir, 'root'));
}

describe('users and groups on a small tree', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'ib-accounts-'));
    await fakeTree(root);
    return () => rm(root, { recursive: true, force: true });
  });

  it('creates a user with a private group, shadow day from SOURCE_DATE_EPOCH, home from skel and ssh keys', async () => {
    await applyGroups(root, [{ name: 'web', system: true }]);
    await applyUsers(root, [User.parse({ name: 'alice', groups: ['sudo', 'web'], sshKeys: ['ssh-ed25519 AAAA alice@x'] })], { sourceDateEpoch: SDE });
    expect(await readFile(join(root, 'etc/passwd'), 'utf8')).toContain('alice:x:1000:1000::/home/alice:/bin/bash\n');
    expect(await readFile(join(root, 'etc/group'), 'utf8')).toBe('root:x:0:\ndaemon:x:1:\nshadow:x:42:\nsudo:x:27:alice\nweb:x:999:alice\nalice:x:1000:\n');
    expect(await readFile(join(root, 'etc/shadow'), 'utf8')).toContain('alice:!:19675:0:99999:7:::\n');
    expect(await readFile(join(root, 'etc/gshadow'), 'utf8')).toContain('sudo:*::alice\nweb:!::alice\nalice:!::\n');
    expect((await stat(join(root, 'etc/shadow'))).mode & 0o777).toBe(0o640);
    const home = await stat(join(root, 'home/alice'));
    expect([home.uid, home.gid, home.mode & 0o777]).toEqual([1000, 1000, 0o755]);
    expect(await readFile(join(root, 'home/alice/.profile'), 'utf8')).toBe('profile\n');
    const ak = await stat(join(root, 'home/alice/.ssh/authorized_keys'));
    expect([ak.uid, ak.gid, ak.mode & 0o777]).toEqual([1000, 1000, 0o600]);
    expect((await stat(join(root, 'home/alice/.ssh'))).mode & 0o777).toBe(0o700);
    expect(await readFile(join(root, 'home/alice/.ssh/authorized_keys'), 'utf8')).toBe('ssh-ed25519 AAAA alice@x\n');
  });

  it('updates an existing user: password and its day, merged ssh keys, no new account', async () => {
    await applyUsers(root, [User.parse({ name: 'root', password: '$6$salt$hash', sshKeys: ['ssh-ed25519 K1'] })], { sourceDateEpoch: SDE });
    await applyUsers(root, [User.parse({ name: 'root', sshKeys: ['ssh-ed25519 K2', 'ssh-ed25519 K1'] })], { sourceDateEpoch: SDE + 86400 * 10 });
    expect(await readFile(join(root, 'etc/shadow'), 'utf8')).toBe('root:$6$salt$hash:19675:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n');
    expect(await readFile(join(root, 'root/.ssh/authorized_keys'), 'utf8')).toBe('ssh-ed25519 K1\nssh-ed25519 K2\n');
    expect((await readFile(join(root, 'etc/passwd'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('names what is wrong', async () => {
    await expect(applyUsers(root, [User.parse({ name: 'bob', groups: ['wheel'] })], { sourceDateEpoch: SDE })).rejects.toThrow(
      `user "bob": no group "wheel" in the tree's /etc/group`,
    );
    await expect(applyUsers(root, [User.parse({ name: 'root', uid: 5 })], { sourceDateEpoch: SDE })).rejects.toThrow(
      'user "root" already exists in the tree with uid 0, the recipe asks for 5',
    );
    await expect(applyGroups(root, [{ name: 'x', gid: 27, system: false }])).rejects.toThrow('gid 27 for group "x" is already used by group "sudo"');
  });
});

// The same accounts made by the tree's own useradd/groupadd and by ib must be identical files.
describe('matches shadow-utils on the Debian base tree', () => {
  let tmp: string;
  const mounts: string[] = [];
  async function overlay(name: string): Promise<string> {
    const d = join(tmp, name);
    await mkdir(join(d, 'u'), { recursive: true });
    await mkdir(join(d, 'w'));
    await mkdir(join(d, 'm'));
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${await baseTree()},upperdir=${d}/u,workdir=${d}/w`, `${d}/m`]);
    mounts.push(`${d}/m`);
    return `${d}/m`;
  }
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ib-accounts-real-'));
  });
  afterAll(async () => {
    for (const m of mounts) await run('umount', [m]);
    await rm(tmp, { recursive: true, force: true });
  });

  it('useradd -m, useradd -r, groupadd -r, usermod -aG give the same files as ib', async () => {
    const a = await overlay('a');
    const env = { SOURCE_DATE_EPOCH: String(SDE) };
    await run('chroot', [a, 'groupadd', '-r', 'sysg'], { env });
    await run('chroot', [a, 'useradd', '-m', '-s', '/bin/bash', 'alice'], { env });
    await run('chroot', [a, 'useradd', '-r', '-s', '/usr/sbin/nologin', 'svc'], { env });
    await run('chroot', [a, 'usermod', '-aG', 'sysg', 'alice'], { env });

    const b = await overlay('b');
    await applyGroups(b, [{ name: 'sysg', system: true }]);
    await applyUsers(b, [User.parse({ name: 'alice', groups: ['sysg'] }), User.parse({ name: 'svc', system: true, shell: '/usr/sbin/nologin' })], { sourceDateEpoch: SDE });

    for (const f of ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow']) {
      expect(await readFile(join(b, f), 'utf8'), f).toBe(await readFile(join(a, f), 'utf8'));
      const [sa, sb] = [await stat(join(a, f)), await stat(join(b, f))];
      expect([sb.mode, sb.uid, sb.gid], f).toEqual([sa.mode, sa.uid, sa.gid]);
    }
    expect((await readdir(join(b, 'home/alice'))).sort()).toEqual((await readdir(join(a, 'home/alice'))).sort());
    const [ha, hb] = [await stat(join(a, 'home/alice')), await stat(join(b, 'home/alice'))];
    expect([hb.mode, hb.uid, hb.gid]).toEqual([ha.mode, ha.uid, ha.gid]);
    await expect(stat(join(b, 'home/svc'))).rejects.toThrow('ENOENT');
  });
});
