/**
 * An ostree disk assembled from the parts ib has (HOWTO-BOOT §10), for proving that
 * deploySysroot's output boots: GPT with BIOS boot, ESP, a separate /boot (XBOOTLDR, ext4) and
 * root, GRUB images whose embedded config finds /boot by UUID with `$prefix` = `/grub`.
 * TODO(lead): this is the blueprint of `ib disk --ostree`; move it into src/disk when wiring.
 */
import { copyFile, mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { copyGrubModules, embeddedConfig, installBiosBoot, makeGrubImage } from '../../src/bootloader/index.js';
import { makeExt4, makeVfat, measureTree, partition, planLayout, SECTOR, withTreeView, writePartitionTable, type DiskLayout } from '../../src/disk/index.js';
import { deploySysroot, type Deployment } from '../../src/ostree/index.js';

export interface OstreeDisk {
  raw: string;
  layout: DiskLayout;
  rootUuid: string;
  bootUuid: string;
  deployment: Deployment;
  sysroot: string;
}

export async function buildOstreeDisk(o: { repo: string; ref: string; work: string; grub2Exec: string; seed: string; sourceDateEpoch: number }): Promise<OstreeDisk> {
  const boot = ['bios', 'uefi'] as const;
  // UUIDs depend only on the seed: plan once for them, deploy, then plan with the real sizes.
  const uuids = planLayout({ seed: o.seed, boot, rootContentBytes: 1, bootContentBytes: 1 });
  const rootUuid = partition(uuids, 'root')!.fs!.uuid;
  const bootUuid = partition(uuids, 'xbootldr')!.fs!.uuid;
  const sysroot = join(o.work, 'sysroot');
  const deployment = await deploySysroot({
    repo: o.repo, ref: o.ref, sysroot, osName: 'debian', rootUuid, bootUuid, grub2Exec: o.grub2Exec, grubTimeout: 1,
  });
  // /boot becomes its own filesystem: move it out of the root's tree, leave the mount point.
  const bootDir = join(o.work, 'boot');
  await rename(join(sysroot, 'boot'), bootDir);
  await mkdir(join(sysroot, 'boot'));
  const gw = join(o.work, 'grub');
  await mkdir(gw, { recursive: true });
  await copyGrubModules('i386-pc', join(bootDir, 'grub'));
  await copyGrubModules('x86_64-efi', join(bootDir, 'grub'));
  const embed = embeddedConfig({ uuid: bootUuid }, '/grub');
  const core = join(gw, 'core.img');
  const efi = join(gw, 'BOOTX64.EFI');
  await makeGrubImage({ format: 'i386-pc', embeddedConfig: embed, output: core, workDir: gw, prefix: '/grub' });
  await makeGrubImage({ format: 'x86_64-efi', embeddedConfig: embed, output: efi, workDir: gw, prefix: '/grub' });
  const espDir = join(o.work, 'esp');
  await mkdir(join(espDir, 'EFI/BOOT'), { recursive: true });
  await copyFile(efi, join(espDir, 'EFI/BOOT/BOOTX64.EFI'));

  const rootSize = await measureTree(sysroot);
  const bootSize = await measureTree(bootDir);
  const layout = planLayout({ seed: o.seed, boot, rootContentBytes: rootSize.bytes, bootContentBytes: bootSize.bytes });
  const raw = join(o.work, 'disk.raw');
  const f = await open(raw, 'w');
  await f.truncate(layout.bytes);
  await f.close();
  await writePartitionTable(raw, layout);
  const region = (role: 'esp' | 'root' | 'xbootldr') => {
    const p = partition(layout, role)!;
    return { image: raw, offset: p.start * SECTOR, bytes: p.sectors * SECTOR };
  };
  const opts = { sourceDateEpoch: o.sourceDateEpoch, workDir: gw };
  await makeVfat(region('esp'), partition(layout, 'esp')!.fs!, espDir, opts);
  await withTreeView(bootDir, join(o.work, 'view-boot'), (v) => makeExt4(region('xbootldr'), partition(layout, 'xbootldr')!.fs!, v, { ...opts, inodes: bootSize.inodes }));
  await withTreeView(sysroot, join(o.work, 'view-root'), (v) => makeExt4(region('root'), partition(layout, 'root')!.fs!, v, { ...opts, inodes: rootSize.inodes }));
  const bios = partition(layout, 'bios-boot')!;
  await installBiosBoot({ image: raw, coreImg: core, start: bios.start, sectors: bios.sectors });
  return { raw, layout, rootUuid, bootUuid, deployment, sysroot };
}
