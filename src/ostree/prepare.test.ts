/**
 * prepareTree's refusals, on small fake trees: each names the problem and what to do, and
 * nothing is written.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { prepareTree } from './prepare.js';
import { formatTmpfiles } from './tmpfiles.js';
import { compareVersions } from './kernel.js';

let dir: string;
const SDE = 1700000000;

function fakeTree(name: string, files: string[]): string {
  const t = join(dir, name);
  for (const f of ['usr/bin/.keep', 'etc/os-release', ...files]) {
    mkdirSync(join(t, f, '..'), { recursive: true });
    writeFileSync(join(t, f), '');
  }
  return t;
}

const KERNEL = ['usr/lib/modules/6.1.0-9-amd64/modules.dep', 'boot/vmlinuz-6.1.0-9-amd64'];
const OSTREE_BOOT = ['usr/lib/ostree/ostree-prepare-root', 'usr/lib/dracut/modules.d/98ostree/module-setup.sh'];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ib-ostree-prepare-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a tree without a kernel', async () => {
  const t = fakeTree('nokernel', OSTREE_BOOT);
  await expect(prepareTree(t, join(dir, 'out1'), { sourceDateEpoch: SDE })).rejects.toMatchObject({
    message: `no kernel in ${t}: neither /boot/vmlinuz-* nor /usr/lib/modules/*/vmlinuz`,
    hint: "install a kernel in the image: add linux-image-amd64 to the recipe's packages.install",
  });
  expect(existsSync(join(dir, 'out1'))).toBe(false);
});

test('a tree without ostree-boot', async () => {
  const t = fakeTree('noostree', KERNEL);
  await expect(prepareTree(t, join(dir, 'out2'), { sourceDateEpoch: SDE })).rejects.toMatchObject({
    message: `${t} lacks ostree-boot (no /usr/lib/ostree/ostree-prepare-root, no /usr/lib/dracut/modules.d/98ostree/module-setup.sh)`,
    hint: "add layers/platform/ostree.yaml to the recipe's layers (it installs ostree, ostree-boot, dracut and grub2-common)",
  });
  expect(existsSync(join(dir, 'out2'))).toBe(false);
});

test('a tree with device nodes and fifos', async () => {
  const t = fakeTree('devices', [...KERNEL, ...OSTREE_BOOT]);
  execFileSync('mknod', [join(t, 'usr/bin/null'), 'c', '1', '3']);
  execFileSync('mkfifo', [join(t, 'etc/pipe')]);
  // Device nodes in /dev are fine: /dev is recreated empty.
  mkdirSync(join(t, 'dev'));
  execFileSync('mknod', [join(t, 'dev/null'), 'c', '1', '3']);
  await expect(prepareTree(t, join(dir, 'out3'), { sourceDateEpoch: SDE })).rejects.toMatchObject({
    message: `${t} holds 2 device node(s) or other special file(s) that ostree cannot store: /etc/pipe (fifo), /usr/bin/null (character device)`,
    hint: 'remove them in the recipe: an ostree commit holds only regular files, symlinks and directories (/dev is devtmpfs at boot)',
  });
  expect(existsSync(join(dir, 'out3'))).toBe(false);
});

test('a tree that is already prepared', async () => {
  const t = fakeTree('prepared', ['usr/etc/os-release']);
  await expect(prepareTree(t, join(dir, 'out4'), { sourceDateEpoch: SDE })).rejects.toMatchObject({
    message: `${t} is already prepared for ostree (it has /usr/etc)`,
  });
});

test('tmpfiles lines and kernel version order', () => {
  expect(formatTmpfiles([
    { type: 'd', path: '/var/lib/x', mode: 0o41777, uid: 0, gid: 5 },
    { type: 'L', path: '/var/run', target: '/run' },
    { type: 'C', path: '/var/roothome', source: '/usr/share/factory/var/roothome' },
  ])).toBe('d /var/lib/x 1777 0 5 - -\nL /var/run - - - - /run\nC /var/roothome - - - - /usr/share/factory/var/roothome\n');
  expect(['6.1.0-9-amd64', '6.1.0-10-amd64', '5.10.0-30-amd64'].sort(compareVersions)).toEqual(['5.10.0-30-amd64', '6.1.0-9-amd64', '6.1.0-10-amd64']);
});
