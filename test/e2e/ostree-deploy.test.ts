/**
 * deploySysroot + the OSTREE_GRUB2_EXEC program: a sysroot whose grub.cfg libostree itself
 * regenerates (through ib's program) on deploy and on an offline upgrade, as HOWTO-BOOT §10.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deploySysroot, emptyGrubenv, upgradeSysroot, writeGrubExecShim } from '../../src/ostree/index.js';
import { ostreeTestCommit, removeSysroot } from '../helpers/ostree-tree.js';

const ROOT = join(import.meta.dirname, '../..');
const ROOT_UUID = '6a9f3c1e-0000-4000-8000-000000000001';
const BOOT_UUID = '6a9f3c1e-0000-4000-8000-000000000002';
let work: string;
let shim: string;
let src: Awaited<ReturnType<typeof ostreeTestCommit>>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-ostree-deploy-'));
  await ostreeTestCommit(work);
  // What a recipe's kernel.cmdline leaves in the image (bootc's kargs.d): the deployment boots with it.
  mkdirSync(join(work, 'prepared/usr/lib/bootc/kargs.d'), { recursive: true });
  writeFileSync(join(work, 'prepared/usr/lib/bootc/kargs.d/10-ib.toml'), 'kargs = ["ib.test=1", "console=tty0"]\n');
  src = await ostreeTestCommit(work);
  shim = await writeGrubExecShim(join(work, 'bin'), [join(ROOT, 'node_modules/.bin/vite-node'), join(ROOT, 'test/helpers/ostree-grub2-exec.ts')]);
});

afterAll(async () => {
  if (work && !process.env.IB_KEEP) await removeSysroot(work);
});

test('deploy writes BLS entries and a grub.cfg that finds /boot by UUID; an offline upgrade regenerates it', async () => {
  const S = join(work, 'sysroot');
  const d = await deploySysroot({
    repo: src.repo, ref: src.branch, sysroot: S, osName: 'debian', kargs: ['console=ttyS0,115200'],
    rootUuid: ROOT_UUID, bootUuid: BOOT_UUID, grub2Exec: shim,
  });
  expect(d.commit).toBe(src.commit);
  expect(d.path).toBe(join(S, 'ostree/deploy/debian/deploy', `${src.commit}.0`));
  expect(d.entries).toEqual([join(S, 'boot/loader/entries/ostree-1-debian.conf')]);
  const entry = readFileSync(d.entries[0]!, 'utf8');
  expect(entry).toMatch(/^options root=UUID=6a9f3c1e-0000-4000-8000-000000000001 rw ib\.test=1 console=tty0 console=ttyS0,115200 ostree=\/ostree\/boot\.1\/debian\/[0-9a-f]{64}\/0$/m);
  expect(entry).toMatch(/^linux \/ostree\/debian-[0-9a-f]{64}\/vmlinuz-\S+$/m);

  // libostree's grub2 backend wrote loader.N/grub.cfg through our program, and /boot/grub/grub.cfg follows /boot/loader.
  expect(lstatSync(join(S, 'boot/grub/grub.cfg')).isSymbolicLink()).toBe(true);
  const cfg = readFileSync(join(S, 'boot/grub/grub.cfg'), 'utf8');
  expect(cfg).toContain('### BEGIN /etc/grub.d/00_header ###');
  expect(cfg).toContain('terminal_output serial console\n');
  expect(cfg).toContain('search --no-floppy --fs-uuid --set=root 6a9f3c1e-0000-4000-8000-000000000002\n');
  expect(cfg.match(/^menuentry /gm)).toHaveLength(1);
  expect(cfg).toMatch(/^linux \/ostree\/debian-[0-9a-f]{64}\/vmlinuz-\S+ root=UUID=6a9f3c1e-0000-4000-8000-000000000001 rw ib\.test=1 console=tty0 console=ttyS0,115200 ostree=\/ostree\/boot\.1\/debian\//m);
  expect(cfg).toMatch(/^initrd \/ostree\/debian-[0-9a-f]{64}\/initramfs-\S+\.img$/m);
  expect(readFileSync(join(S, 'boot/grub/grubenv')).equals(emptyGrubenv())).toBe(true);
  const bootDir = (await readdir(join(S, 'boot/ostree')))[0]!;
  expect((await readdir(join(S, 'boot/ostree', bootDir))).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^vmlinuz-/), expect.stringMatching(/^initramfs-.*\.img$/)]));
  expect(readFileSync(join(S, 'ostree/repo/config'), 'utf8')).toMatch(/bootloader=grub2/);
  expect(readFileSync(join(d.path, 'etc/fstab'), 'utf8')).toContain(`UUID=${BOOT_UUID} /boot ext4 defaults 1 2\n`);
  expect(existsSync(join(d.path, 'usr/lib/ostree/ostree-prepare-root'))).toBe(true);
  const firstLoader = readlinkSync(join(S, 'boot/loader'));

  // A new version of the same tree, deployed offline on top: two entries, newest first.
  const v2 = await ostreeTestCommit(work, { version: '12.20231115.0' });
  expect(v2.commit).not.toBe(src.commit);
  const u = await upgradeSysroot({ repo: v2.repo, ref: v2.branch, sysroot: S, osName: 'debian', bootUuid: BOOT_UUID, grub2Exec: shim });
  expect(u.commit).toBe(v2.commit);
  expect(u.entries.map((e) => e.split('/').pop())).toEqual(['ostree-1-debian.conf', 'ostree-2-debian.conf']);
  expect(readlinkSync(join(S, 'boot/loader'))).not.toBe(firstLoader);
  const cfg2 = readFileSync(join(S, 'boot/grub/grub.cfg'), 'utf8');
  expect(cfg2.match(/^menuentry /gm)).toHaveLength(2);
  expect(cfg2.indexOf('12.20231115.0')).toBeLessThan(cfg2.indexOf('12.20231114.0'));
  // The fstab ib wrote is a local /etc change: the upgrade's three-way merge carries it.
  expect(readFileSync(join(u.path, 'etc/fstab'), 'utf8')).toContain(`UUID=${BOOT_UUID} /boot ext4 defaults 1 2\n`);
}, 900_000);

test('a non-empty sysroot directory is refused', async () => {
  await expect(deploySysroot({
    repo: src.repo, ref: src.branch, sysroot: work, osName: 'debian', rootUuid: ROOT_UUID, bootUuid: BOOT_UUID, grub2Exec: shim,
  })).rejects.toMatchObject({ message: `${work} already exists and is not empty`, hint: 'give a new directory for the sysroot' });
});
