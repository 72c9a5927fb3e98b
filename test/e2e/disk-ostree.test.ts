/**
 * ostree disks: a commit deployed offline into a sysroot with the disk's UUIDs (known from the
 * seed before the disk exists), assembled with /boot as its own XBOOTLDR ext4 that carries
 * libostree's grub.cfg, booted under SeaBIOS and OVMF into the deployment.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDisk, diskIdentifiers, partition, type BuildDiskResult } from '../../src/disk/index.js';
import { deploySysroot, upgradeSysroot, writeGrubExecShim } from '../../src/ostree/index.js';
import { bootImage } from '../../src/vm/index.js';
import { ostreeTestCommit, removeSysroot } from '../helpers/ostree-tree.js';

const ROOT = join(import.meta.dirname, '../..');
const SEED = 'e2e-ostree-disk';
let work: string;
let disk: BuildDiskResult;
let shim: string;
let sysroot: string;
let first: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-disk-ostree-'));
  const src = await ostreeTestCommit(work);
  first = src.commit;
  shim = await writeGrubExecShim(join(work, 'bin'), [join(ROOT, 'node_modules/.bin/vite-node'), join(ROOT, 'test/helpers/ostree-grub2-exec.ts')]);
  const ids = diskIdentifiers(SEED);
  sysroot = join(work, 'sysroot');
  await deploySysroot({
    repo: src.repo, ref: src.branch, sysroot, osName: 'debian', kargs: ['console=ttyS0,115200n8'],
    rootUuid: ids.rootUuid, bootUuid: ids.bootUuid, grub2Exec: shim,
  });
  disk = await buildDisk({ tree: sysroot, deploy: 'ostree', output: join(work, 'ostree.qcow2'), format: 'qcow2', seed: SEED, sourceDateEpoch: 1700000000 });
}, 1_800_000);

afterAll(async () => {
  if (work && !process.env.IB_KEEP) await removeSysroot(work);
});

describe('ostree qcow2', () => {
  it('has a separate /boot partition with the UUID the deployment was made with', () => {
    const ids = diskIdentifiers(SEED);
    expect(disk.layout.partitions.map((p) => p.role)).toEqual(['bios-boot', 'esp', 'xbootldr', 'root']);
    expect(partition(disk.layout, 'xbootldr')!.fs!.uuid).toBe(ids.bootUuid);
    expect(partition(disk.layout, 'root')!.fs!.uuid).toBe(ids.rootUuid);
    expect(disk.kernel).toBeUndefined();
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`boots with ${firmware} into the deployment`, async () => {
      const ids = diskIdentifiers(SEED);
      const r = await bootImage({
        image: disk.output, firmware, timeoutSec: 700,
        exec: 'cat /proc/cmdline; test -e /run/ostree-booted && echo ostree-booted; findmnt -n -o UUID /boot; findmnt -n -o UUID /sysroot',
      });
      console.log(`ostree ${firmware}: login after ${r.seconds.toFixed(1)} s`);
      const [cmdline, booted, bootUuid, rootUuid] = r.exec!.output.trim().split('\n');
      // The image's kargs.d (console=tty0 console=ttyS0,…) and the deploy's console= agree: said once.
      expect(cmdline).toMatch(new RegExp(`root=UUID=${ids.rootUuid} rw console=tty0 console=ttyS0,115200n8 ostree=/ostree/boot\\.1/debian/[0-9a-f]{64}/0$`));
      expect(booted).toBe('ostree-booted');
      expect(bootUuid).toBe(ids.bootUuid);
      expect(rootUuid).toBe(ids.rootUuid);
    }, 900_000);
  }
});

describe('an offline upgrade', () => {
  it('boots the new deployment by default and the previous one from the second menu entry', async () => {
    const ids = diskIdentifiers(SEED);
    const v2 = await ostreeTestCommit(work, { version: '12.20231115.0' });
    expect(v2.commit).not.toBe(first);
    await upgradeSysroot({ repo: v2.repo, ref: v2.branch, sysroot, osName: 'debian', bootUuid: ids.bootUuid, grub2Exec: shim });
    const upgraded = await buildDisk({ tree: sysroot, deploy: 'ostree', output: join(work, 'upgraded.qcow2'), format: 'qcow2', seed: SEED, sourceDateEpoch: 1700000000 });
    const booted = 'ostree admin status | sed -n "s/^\\* debian \\([0-9a-f]*\\)\\.0$/\\1/p"';
    const latest = await bootImage({ image: upgraded.output, firmware: 'bios', timeoutSec: 700, exec: booted });
    expect(latest.exec!.output.trim()).toBe(v2.commit);
    // The GRUB menu on the serial console: down arrow, Enter (the keys wait in the UART).
    const previous = await bootImage({
      image: upgraded.output, firmware: 'bios', timeoutSec: 700, exec: booted,
      answers: [{ expect: /GNU GRUB/, send: '\x1b[B\r' }],
    });
    expect(previous.exec!.output.trim()).toBe(first);
    console.log(`ostree upgrade: new ${latest.seconds.toFixed(1)} s, rollback entry ${previous.seconds.toFixed(1)} s`);
  }, 1_800_000);
});
