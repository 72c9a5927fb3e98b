/**
 * Disk images from a root tree: GPT, filesystems built from directories at their offsets, GRUB
 * for BIOS and UEFI placed by ib, then raw → qcow2/vmdk/vhd. The input tree is never written to:
 * what the disk adds (fstab, GRUB's files, the grow-root config) goes in through a staging dir
 * laid over it. Output appears under its final name only when complete.
 */
import { mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { IbError, UsageError, wrap } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { emit, formatBytes, phase } from '../log.js';
import { findKernel, installBiosBoot, kernelCmdline, prepareGrub, type KernelFiles } from '../bootloader/index.js';
import { makeExt4, makeVfat } from './filesystems.js';
import { convertRaw, parseFormat, type DiskFormat } from './image.js';
import { SECTOR, parseSize, partition, planLayout, type DiskLayout, type Firmware } from './layout.js';
import { writePartitionTable } from './partition-table.js';
import { Stage } from './stage.js';
import { measureTree } from './tree-size.js';
import { TreeView } from './tree-view.js';

export * from './layout.js';
export { FORMATS, parseFormat, convertRaw, imageInfo, formatFromName, ImageInfo, type DiskFormat } from './image.js';
export { makeExt4, makeVfat, usedInodes, type Region } from './filesystems.js';
export { readPartitionTable, writePartitionTable, SfdiskTable } from './partition-table.js';
export { TreeView, withTreeView } from './tree-view.js';
export { measureTree, type TreeSize } from './tree-size.js';
export { Stage } from './stage.js';

export interface BuildDiskOptions {
  /** A flattened root tree; read, never written. */
  tree: string;
  output: string;
  format?: DiskFormat | string;
  /** Total image size in bytes or as text (`4G`); computed from the tree when omitted. */
  size?: number | string;
  boot?: readonly Firmware[];
  /** Extra kernel arguments after `root=… ro console=…`. */
  kargs?: readonly string[];
  /** Everything random-looking (UUIDs, hash seeds) derives from it: e.g. recipe name + image digest. */
  seed: string;
  sourceDateEpoch: number;
  /** qcow2 only: compress clusters (slower to build and to boot under TCG). */
  compress?: boolean;
  /** Grow the root partition and filesystem to fill the disk on first boot (default true). */
  growRoot?: boolean;
  run?: Run;
}

export interface BuildDiskResult {
  output: string;
  format: DiskFormat;
  /** Length of the output file. */
  bytes: number;
  /** What it occupies on the host (raw images are sparse). */
  allocatedBytes: number;
  layout: DiskLayout;
  kernel: KernelFiles;
  cmdline: string;
  seconds: number;
}

/** The x86-64 root type in systemd-repart's words: it matches the partition ib made. */
const REPART_ROOT = '[Partition]\nType=root-x86-64\n';

export async function buildDisk(opts: BuildDiskOptions): Promise<BuildDiskResult> {
  const t0 = performance.now();
  const run = opts.run ?? defaultRun;
  const format = parseFormat(opts.format ?? 'raw');
  const boot = [...new Set(opts.boot ?? ['bios', 'uefi'])] as Firmware[];
  for (const b of boot) if (b !== 'bios' && b !== 'uefi') throw new UsageError(`unknown firmware "${b}", valid values are bios, uefi`);
  const size = typeof opts.size === 'string' ? parseSize(opts.size) : opts.size;
  if (!lstatSync(opts.tree, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${opts.tree} is not a directory`, { hint: 'pass the root tree of the image (flattened)' });
  }
  const work = await mkdtemp(join(tmpdir(), 'ib-disk-'));
  const outDir = dirname(opts.output);
  const tmpRaw = join(outDir, `.${basename(opts.output)}.ib-${process.pid}.raw`);
  const tmpOut = join(outDir, `.${basename(opts.output)}.ib-${process.pid}.tmp`);
  let view: TreeView | undefined;
  try {
    view = await TreeView.open(opts.tree, work, { run });
    // Every read of the tree goes through the view: `root` is the tree, seen without atime updates.
    const root = view.path;
    const kernel = findKernel(root, opts.tree);
    // Layout needs the content size, which needs the stage, which needs the root fs UUID: plan
    // once for the UUID (it depends only on the seed), stage, then plan with the stage included.
    const measured = await phase('measuring tree', () => measureTree(root));
    const rootUuid = planLayout({ seed: opts.seed, boot, rootContentBytes: measured.bytes }).partitions.at(-1)!.fs!.uuid;
    const cmdline = kernelCmdline(`UUID=${rootUuid}`, opts.kargs ?? []);
    const stage = new Stage(join(work, 'root-stage'), root, opts.sourceDateEpoch);
    const esp = new Stage(join(work, 'esp-stage'), undefined, opts.sourceDateEpoch);
    await stage.mkdir('');
    await esp.mkdir('');
    const grub = await phase('making GRUB images', async () => {
      await writeRootAdditions(stage, root, opts.growRoot ?? true, rootUuid);
      const files = await prepareGrub({
        firmware: boot,
        grubDir: stage.path('boot/grub'),
        search: { uuid: rootUuid },
        prefix: '/boot/grub',
        entries: [{ title: await prettyName(root), kernel: kernel.kernel, initrd: kernel.initrd, cmdline }],
        workDir: work,
        run,
      });
      if (files.efiImg) await esp.writeFile('EFI/BOOT/BOOTX64.EFI', await readFile(files.efiImg));
      await stage.finish();
      await esp.finish();
      return files;
    });
    const staged = await measureTree(stage.dir);
    const layout = planLayout({ seed: opts.seed, boot, rootContentBytes: measured.bytes + staged.bytes, size });
    emit({ event: 'info', message: `disk ${formatBytes(layout.bytes)}: ${layout.partitions.map((p) => `${p.name} ${formatBytes(p.sectors * SECTOR)}`).join(', ')}` });

    await phase('partitioning', async () => {
      const f = await open(tmpRaw, 'w');
      await f.truncate(layout.bytes);
      await f.close();
      await writePartitionTable(tmpRaw, layout, { run });
    });
    const region = (role: 'esp' | 'root') => {
      const p = partition(layout, role)!;
      return { image: tmpRaw, offset: p.start * SECTOR, bytes: p.sectors * SECTOR };
    };
    const espPart = partition(layout, 'esp');
    if (espPart) {
      await phase('making ESP', () => makeVfat(region('esp'), espPart.fs!, esp.dir, { sourceDateEpoch: opts.sourceDateEpoch, workDir: work, run }));
    }
    await view.overlay(stage.dir);
    const rootView = view;
    await phase('making root filesystem', () => makeExt4(region('root'), partition(layout, 'root')!.fs!, rootView, {
      sourceDateEpoch: opts.sourceDateEpoch, workDir: work, inodes: measured.inodes + staged.inodes, run,
    }));
    const bios = partition(layout, 'bios-boot');
    if (bios && grub.coreImg) {
      await phase('installing GRUB for BIOS', () => installBiosBoot({ image: tmpRaw, coreImg: grub.coreImg!, start: bios.start, sectors: bios.sectors }));
    }
    if (format === 'raw') {
      await rename(tmpRaw, opts.output);
    } else {
      await phase(`converting to ${format}`, () => convertRaw(tmpRaw, tmpOut, format, { compress: opts.compress, run }));
      await rename(tmpOut, opts.output);
    }
    const st = await stat(opts.output);
    const seconds = (performance.now() - t0) / 1000;
    emit({ event: 'info', message: `wrote ${opts.output} (${format}, ${formatBytes(layout.bytes)} virtual, ${formatBytes(st.blocks * 512)} on disk) in ${seconds.toFixed(1)}s` });
    return { output: opts.output, format, bytes: st.size, allocatedBytes: st.blocks * 512, layout, kernel, cmdline, seconds };
  } catch (e) {
    throw e instanceof IbError ? e : wrap(`building disk ${opts.output}`, e);
  } finally {
    await view?.close();
    await rm(tmpRaw, { force: true });
    await rm(tmpOut, { force: true });
    await rm(work, { recursive: true, force: true });
  }
}

async function writeRootAdditions(stage: Stage, root: string, grow: boolean, rootUuid: string): Promise<void> {
  await stage.writeFile('etc/fstab', [
    '# Written by ib: the root filesystem by UUID.' + (grow ? ' It grows to fill the disk on first boot.' : ''),
    `UUID=${rootUuid} / ext4 rw,errors=remount-ro${grow ? ',x-systemd.growfs' : ''} 0 1`,
    '',
  ].join('\n'));
  if (!grow) return;
  // Debian boots with initramfs-tools, so systemd-repart.service (wanted by the initrd's targets)
  // never runs; pulled in by sysinit.target it grows the root partition on the running system,
  // and systemd-growfs@-.service (from x-systemd.growfs, ordered after it) grows ext4 online.
  const unit = ['usr/lib/systemd/system/systemd-repart.service', 'lib/systemd/system/systemd-repart.service']
    .find((u) => lstatSync(join(root, u), { throwIfNoEntry: false })?.isFile());
  if (!unit) {
    emit({ event: 'warning', message: 'the image has no systemd-repart: its root partition will not grow to fill a larger disk' });
    return;
  }
  await stage.writeFile('etc/repart.d/50-ib-root.conf', REPART_ROOT);
  await stage.symlink('etc/systemd/system/sysinit.target.wants/systemd-repart.service', `/${unit}`);
}

/** PRETTY_NAME from the tree's os-release, for the boot menu. */
async function prettyName(root: string): Promise<string> {
  for (const p of ['usr/lib/os-release', 'etc/os-release']) {
    const full = join(root, p);
    if (!lstatSync(full, { throwIfNoEntry: false })?.isFile()) continue;
    const m = /^PRETTY_NAME=(["']?)(.*)\1\s*$/m.exec(await readFile(full, 'utf8'));
    if (m?.[2]) return m[2];
  }
  return 'Linux';
}
