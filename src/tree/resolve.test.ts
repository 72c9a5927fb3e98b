import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirInRoot, readFileInRoot, removeInRoot, resolveInRoot, statInRoot, symlinkInRoot, writeFileInRoot } from './resolve.js';

let tmp: string;
let root: string;
let host: string;

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ib-resolve-'));
  root = join(tmp, 'root');
  host = join(tmp, 'host');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(host);
  await writeFile(join(host, 'canary'), 'host canary\n');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('resolveInRoot', () => {
  it('resolves absolute links relative to the root and stops .. at the root', async () => {
    await symlink('/usr/lib', join(root, 'lib'));
    await symlink('../../../../../../..', join(root, 'etc/up'));
    await symlink(join(host, 'canary'), join(root, 'etc/fstab'));
    expect(await resolveInRoot(root, '/lib/x')).toBe(join(root, 'usr/lib/x'));
    expect(await resolveInRoot(root, '/etc/up/etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/../../etc/./passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/etc/fstab')).toBe(join(root, host, 'canary'));
  });

  it('follows relative links from their own directory', async () => {
    await mkdir(join(root, 'usr/share/zoneinfo/America'), { recursive: true });
    await mkdir(join(root, 'usr/share/zoneinfo/US'));
    await symlink('../America/New_York', join(root, 'usr/share/zoneinfo/US/Eastern'));
    expect(await resolveInRoot(root, 'usr/share/zoneinfo/US/Eastern')).toBe(join(root, 'usr/share/zoneinfo/America/New_York'));
  });

  it('reports a symlink loop instead of spinning', async () => {
    await rm(join(root, 'etc'), { recursive: true });
    await symlink('/etc', join(root, 'etc'));
    await expect(resolveInRoot(root, '/etc/hostname')).rejects.toThrow(`resolving /etc/hostname in ${root}: too many levels of symbolic links`);
  });
});

describe('writes never leave the root', () => {
  it('replaces a final-component symlink to a host file instead of writing through it', async () => {
    await symlink(join(host, 'canary'), join(root, 'etc/fstab'));
    await writeFileInRoot(root, '/etc/fstab', 'LABEL=root / ext4 defaults 0 1\n');
    expect(await readFile(join(host, 'canary'), 'utf8')).toBe('host canary\n');
    const st = await lstat(join(root, 'etc/fstab'));
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o644);
    expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toBe('LABEL=root / ext4 defaults 0 1\n');
  });

  it('keeps writes through a directory symlink to /etc inside the root', async () => {
    // A tree whose etc points at the host's /etc: inside the tree "/etc" is the link itself.
    await rm(join(root, 'etc'), { recursive: true });
    await symlink('/etc', join(root, 'etc'));
    const hostHostname = await readFile('/etc/hostname', 'utf8').catch(() => undefined);
    await expect(writeFileInRoot(root, '/etc/hostname', 'pwned\n')).rejects.toThrow('too many levels of symbolic links');
    expect(await readFile('/etc/hostname', 'utf8').catch(() => undefined)).toBe(hostHostname);

    // A directory link to the host path of the canary's directory lands inside the root.
    await rm(join(root, 'etc'));
    await symlink(host, join(root, 'etc'));
    await writeFileInRoot(root, '/etc/canary', 'inside\n');
    expect(await readFile(join(host, 'canary'), 'utf8')).toBe('host canary\n');
    expect(await readFile(join(root, host, 'canary'), 'utf8')).toBe('inside\n');
  });

  it('contains ../../.. escapes for every writer', async () => {
    const up = '../'.repeat(20) + host.slice(1);
    await symlink(up, join(root, 'etc/evil'));
    await mkdirInRoot(root, '/etc/evil/sub', { mode: 0o700 });
    await writeFileInRoot(root, '/etc/evil/canary', 'x');
    await symlinkInRoot(root, '/etc/evil/link', '/etc/shadow');
    await writeFileInRoot(root, '/etc/evil/sub/f', 'y');
    expect(await readFile(join(host, 'canary'), 'utf8')).toBe('host canary\n');
    await expect(stat(join(host, 'sub'))).rejects.toThrow('ENOENT');
    await expect(stat(join(host, 'link'))).rejects.toThrow('ENOENT');
    expect(await readFile(join(root, host, 'canary'), 'utf8')).toBe('x');
    expect((await stat(join(root, host, 'sub'))).mode & 0o777).toBe(0o700);
    expect(await readlink(join(root, host, 'link'))).toBe('/etc/shadow');

    expect(await removeInRoot(root, '/etc/evil/canary')).toBe(true);
    expect(await readFile(join(host, 'canary'), 'utf8')).toBe('host canary\n');
    expect(await readFileInRoot(root, '/etc/evil/canary')).toBeUndefined();
  });

  it('removes a symlink, not what it points to', async () => {
    await symlink(host, join(root, 'etc/hostdir'));
    expect(await removeInRoot(root, '/etc/hostdir', { recursive: true })).toBe(true);
    expect(await readFile(join(host, 'canary'), 'utf8')).toBe('host canary\n');
    expect(await removeInRoot(root, '/etc/hostdir')).toBe(false);
  });

  it('reads follow links inside the root only', async () => {
    await symlink(join(host, 'canary'), join(root, 'etc/fstab'));
    expect(await readFileInRoot(root, '/etc/fstab')).toBeUndefined();
    await mkdir(join(root, host), { recursive: true });
    await writeFile(join(root, host, 'canary'), 'tree copy');
    expect((await readFileInRoot(root, '/etc/fstab'))?.toString()).toBe('tree copy');
    expect((await statInRoot(root, '/etc/fstab', { follow: false }))?.isSymbolicLink()).toBe(true);
  });
});

describe('ownership', () => {
  it('keeps an existing file mode and owner unless told otherwise, and creates parents', async () => {
    await writeFile(join(root, 'etc/shadow'), 'old', { mode: 0o640 });
    await writeFileInRoot(root, '/etc/shadow', 'new');
    expect((await stat(join(root, 'etc/shadow'))).mode & 0o7777).toBe(0o640);
    await writeFileInRoot(root, '/usr/local/bin/tool', '#!/bin/sh\n', { mode: 0o4755, uid: 12, gid: 34 });
    const st = await stat(join(root, 'usr/local/bin/tool'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o4755, 12, 34]);
    expect((await stat(join(root, 'usr/local'))).mode & 0o7777).toBe(0o755);
  });

  it('refuses to replace a directory with a file', async () => {
    await expect(writeFileInRoot(root, '/etc', 'x')).rejects.toThrow('cannot write file /etc in the tree: a directory is in the way');
  });
});
