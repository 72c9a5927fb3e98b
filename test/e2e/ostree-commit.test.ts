/**
 * prepareTree + ostreeCommit on a real Debian tree with ostree-boot: the layout ostree needs,
 * reproducible checksums, a clean fsck, and the errors for trees that cannot be committed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run } from '../../src/exec/run.js';
import { ostreeCommit, prepareTree } from '../../src/ostree/index.js';
import { initramfsHasOstree } from '../../src/ostree/kernel.js';
import { baseTree } from '../helpers/base-tree.js';
import { ostreeTree } from '../helpers/ostree-tree.js';

const SDE = 1700000000;
let work: string;
let src: string;
let prepared: string;

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

beforeAll(async () => {
  src = await ostreeTree();
  work = await mkdtemp(join(tmpdir(), 'ib-ostree-commit-'));
  prepared = join(work, 'prepared');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('prepareTree', () => {
  test('lays the tree out the way ostree deploys it, leaving the source untouched', async () => {
    const before = (await readdir(src)).sort();
    const res = await prepareTree(src, prepared, { sourceDateEpoch: SDE });
    const k = res.kernelVersion;
    expect(k).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    // The helper's tree already has a dracut initramfs with ostree-prepare-root.
    expect(res.initramfsRegenerated).toBe(false);
    expect(existsSync(join(prepared, `usr/lib/modules/${k}/vmlinuz`))).toBe(true);
    expect(sha(join(prepared, `usr/lib/modules/${k}/initramfs.img`))).toBe(sha(join(src, `boot/initrd.img-${k}`)));
    expect(await readdir(join(prepared, 'boot'))).toEqual([]);
    expect(existsSync(join(prepared, 'vmlinuz'))).toBe(false);
    expect(existsSync(join(prepared, 'etc'))).toBe(false);
    expect(readFileSync(join(prepared, 'usr/etc/machine-id'), 'utf8')).toBe('');
    expect(existsSync(join(prepared, 'usr/etc/default/grub'))).toBe(true);
    expect(existsSync(join(prepared, 'usr/lib/sysimage/dpkg/status'))).toBe(true);
    expect(await readdir(join(prepared, 'var'))).toEqual([]);
    for (const d of ['tmp', 'run', 'dev', 'proc', 'sys']) expect(await readdir(join(prepared, d))).toEqual([]);
    expect(statSync(join(prepared, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(readlinkSync(join(prepared, 'home'))).toBe('var/home');
    expect(readlinkSync(join(prepared, 'root'))).toBe('var/roothome');
    expect(readlinkSync(join(prepared, 'usr/local'))).toBe('../var/usrlocal');
    expect(readlinkSync(join(prepared, 'media'))).toBe('run/media');
    expect(readlinkSync(join(prepared, 'ostree'))).toBe('sysroot/ostree');
    expect(statSync(join(prepared, 'sysroot')).isDirectory()).toBe(true);
    const tmpfiles = readFileSync(join(prepared, 'usr/lib/tmpfiles.d/ib-ostree.conf'), 'utf8');
    expect(tmpfiles).toContain('L /var/lib/dpkg - - - - ../../usr/lib/sysimage/dpkg\n');
    // /root held dotfiles and /usr/local its empty hierarchy: both come back at first boot.
    expect(tmpfiles).toContain('C /var/roothome - - - - /usr/share/factory/var/roothome\n');
    expect(tmpfiles).toContain('C /var/usrlocal - - - - /usr/share/factory/var/usrlocal\n');
    expect(tmpfiles).toContain('d /var/home 0755 0 0 - -\n');
    expect(tmpfiles).toContain('d /run/media 0755 0 0 - -\n');
    expect(existsSync(join(prepared, 'usr/share/factory/var/roothome/.bashrc'))).toBe(true);
    expect(statSync(join(prepared, 'usr/share/factory/var/roothome')).mode & 0o7777).toBe(0o700);
    const autovar = readFileSync(join(prepared, 'usr/lib/tmpfiles.d/ib-ostree-autovar.conf'), 'utf8');
    expect(autovar).toContain('d /var/lib/apt 0755 0 0 - -\n');
    expect(autovar).toContain('L /var/run - - - - /run\n');
    expect(autovar).not.toContain('/var/lib/dpkg');
    // The source is as it was.
    expect((await readdir(src)).sort()).toEqual(before);
    expect(existsSync(join(src, `boot/vmlinuz-${k}`))).toBe(true);
    expect(existsSync(join(src, 'etc/os-release'))).toBe(true);
  }, 600_000);

  test('an initramfs is rebuilt in the tree with dracut, reproducibly', async () => {
    const out = join(work, 'regenerated');
    const t0 = performance.now();
    const res = await prepareTree(src, out, { sourceDateEpoch: SDE, initramfs: 'always' });
    console.log(`prepare with dracut ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    expect(res.initramfsRegenerated).toBe(true);
    const img = `usr/lib/modules/${res.kernelVersion}/initramfs.img`;
    expect(await initramfsHasOstree(out, img)).toBe(true);
    // The helper's tree got its initramfs from the same dracut call (layers/platform/ostree.yaml).
    expect(sha(join(out, img))).toBe(sha(join(src, `boot/initrd.img-${res.kernelVersion}`)));
    expect(await readdir(join(out, 'var'))).toEqual([]);
    await rm(out, { recursive: true, force: true });
  }, 900_000);

  test('an image without ostree-boot is refused before anything is written', async () => {
    const out = join(work, 'never');
    await expect(prepareTree(await baseTree(), out, { sourceDateEpoch: SDE })).rejects.toMatchObject({
      message: `${await baseTree()} lacks ostree-boot (no /usr/lib/ostree/ostree-prepare-root, no /usr/lib/dracut/modules.d/98ostree/module-setup.sh)`,
      hint: "add layers/platform/ostree.yaml to the recipe's layers (it installs ostree, ostree-boot, dracut and grub2-common)",
    });
    expect(existsSync(out)).toBe(false);
  });
});

describe('ostreeCommit', () => {
  test('two commits of one tree give one checksum; a second preparation gives the same; fsck is clean', async () => {
    const repo = join(work, 'repo');
    const opts = { tree: prepared, repo, branch: 'debian/12/x86_64', mode: 'bare-user' as const, subject: 'ib test', version: '12.20231114.0', sourceDateEpoch: SDE };
    const t0 = performance.now();
    const c1 = await ostreeCommit(opts);
    console.log(`commit bare-user ${((performance.now() - t0) / 1000).toFixed(1)}s ${c1}`);
    const c2 = await ostreeCommit(opts);
    expect(c2).toBe(c1);
    const again = join(work, 'prepared-2');
    await prepareTree(src, again, { sourceDateEpoch: SDE });
    expect(await ostreeCommit({ ...opts, tree: again })).toBe(c1);
    await rm(again, { recursive: true, force: true });

    const show = (key: string) => run('ostree', [`--repo=${repo}`, 'show', 'debian/12/x86_64', `--print-metadata-key=${key}`]).then((r) => r.stdout.trim());
    expect(await show('ostree.bootable')).toBe('true');
    expect(await show('version')).toBe("'12.20231114.0'");
    expect(await show('ostree.linux')).toMatch(/^'\d+\.\d+\.\d+-\d+-amd64'$/);
    const log = await run('ostree', [`--repo=${repo}`, 'log', 'debian/12/x86_64']);
    expect(log.stdout).toContain('Date:  2023-11-14 22:13:20 +0000');
    expect(log.stdout.match(/^commit /gm)).toHaveLength(1);
    const fsck = await run('ostree', [`--repo=${repo}`, 'fsck']);
    expect(fsck.stdout).toContain('object fsck of 1 commits completed successfully - no errors found.');
  }, 900_000);

  test('archive repo: same tree, same checksum as bare-user', async () => {
    const bare = (await run('ostree', [`--repo=${join(work, 'repo')}`, 'rev-parse', 'debian/12/x86_64'])).stdout.trim();
    const c = await ostreeCommit({
      tree: prepared, repo: join(work, 'repo-archive'), branch: 'debian/12/x86_64', mode: 'archive', subject: 'ib test', version: '12.20231114.0', sourceDateEpoch: SDE,
    });
    expect(c).toBe(bare);
  }, 900_000);

  test('a repo of another mode is refused', async () => {
    await expect(ostreeCommit({ tree: prepared, repo: join(work, 'repo'), branch: 'x', mode: 'archive', sourceDateEpoch: SDE })).rejects.toMatchObject({
      message: `ostree repository ${join(work, 'repo')} has mode bare-user, not archive`,
    });
  });
});
