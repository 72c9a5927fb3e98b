/**
 * Disk assembly: a deploy kind (classic or ostree) says what goes into which filesystem; this
 * sizes the layout, writes the GPT, builds ESP, /boot and root at their offsets, places GRUB for
 * BIOS, and converts. The raw image lives under a temporary name next to the output and is
 * renamed only when complete; on failure nothing is left behind.
 */
import { lstatSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { IbError, UsageError, wrap } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { emit, formatBytes, phase } from '../log.js';
import { installBiosBoot, prepareGrub, type KernelFiles } from '../bootloader/index.js';
import { classicMedium } from './classic.js';
import { makeExt4, makeVfat, type Region } from './filesystems.js';
import { convertRaw, parseFormat, type DiskFormat } from './image.js';
import { SECTOR, deriveUuid, parseSize, partition, planLayout, type DiskLayout, type Firmware, type PartitionRole } from './layout.js';
import type { DiskIds, Medium, MediumContext } from './medium.js';
import { ostreeMedium } from './ostree-sysroot.js';
import { writePartitionTable } from './partition-table.js';
import { Stage } from './stage.js';
import { measureTree } from './tree-size.js';
import { TreeView } from './tree-view.js';

export type DeployKind = 'classic' | 'ostree';

const DEPLOYS: Record<DeployKind, (ctx: MediumContext) => Promise<Medium>> = {
  classic: classicMedium,
  ostree: ostreeMedium,
};

export interface BuildDiskOptions {
  /** classic: a flattened root tree. ostree: a sysroot deployed with `diskIdentifiers(seed)`. Read, never written. */
  tree: string;
  output: string;
  format?: DiskFormat | string;
  /** Total image size in bytes or as text (`4G`); computed from the tree when omitted. */
  size?: number | string;
  boot?: readonly Firmware[];
  /** Extra kernel arguments after `root=… ro console=…` (classic; an ostree sysroot has its own). */
  kargs?: readonly string[];
  /** Everything random-looking (UUIDs, hash seeds) derives from it: e.g. image ref + digest. */
  seed: string;
  sourceDateEpoch: number;
  /** Default classic. */
  deploy?: DeployKind;
  /** qcow2 only: compress clusters (slower to build and to boot under TCG). */
  compress?: boolean;
  /** classic: grow the root partition and filesystem to fill the disk on first boot (default true). */
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
  /** classic: the kernel booted and its command line. */
  kernel?: KernelFiles;
  cmdline?: string;
  seconds: number;
}

/** The disk's identifiers, derived from the seed alone: an ostree deploy needs them before the disk exists. */
export function diskIdentifiers(seed: string): DiskIds {
  return { diskGuid: deriveUuid(seed, 'disk'), rootUuid: deriveUuid(seed, 'fs:root'), bootUuid: deriveUuid(seed, 'fs:xbootldr') };
}

export async function buildDisk(opts: BuildDiskOptions): Promise<BuildDiskResult> {
  const t0 = performance.now();
  const run = opts.run ?? defaultRun;
  const format = parseFormat(opts.format ?? 'raw');
  const deploy = opts.deploy ?? 'classic';
  if (!(deploy in DEPLOYS)) throw new UsageError(`unknown deploy kind "${deploy}", valid kinds are ${Object.keys(DEPLOYS).join(', ')}`);
  const boot = [...new Set(opts.boot ?? ['bios', 'uefi'])] as Firmware[];
  for (const b of boot) if (b !== 'bios' && b !== 'uefi') throw new UsageError(`unknown firmware "${b}", valid values are bios, uefi`);
  const size = typeof opts.size === 'string' ? parseSize(opts.size) : opts.size;
  if (!lstatSync(opts.tree, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${opts.tree} is not a directory`, { hint: 'pass the root tree of the image (flattened)' });
  }
  const work = await mkdtemp(join(tmpdir(), 'ib-disk-'));
  const tmpRaw = join(dirname(opts.output), `.${basename(opts.output)}.ib-${process.pid}.raw`);
  const tmpDir = join(dirname(opts.output), `.${basename(opts.output)}.ib-${process.pid}.d`);
  const views: TreeView[] = [];
  const ids = diskIdentifiers(opts.seed);
  try {
    const medium = await phase('reading the tree', () => DEPLOYS[deploy]({
      tree: opts.tree, ids, kargs: opts.kargs ?? [], growRoot: opts.growRoot ?? true,
      sourceDateEpoch: opts.sourceDateEpoch, workDir: work,
      openView: async (dir, name) => {
        const v = await TreeView.open(dir, join(work, `view-${name}`), { run });
        views.push(v);
        return v;
      },
    }));
    const esp = new Stage(join(work, 'esp-stage'), undefined, opts.sourceDateEpoch);
    await esp.mkdir('');
    const grubFiles = await phase('making GRUB images', async () => {
      const files = await prepareGrub({ firmware: boot, ...medium.grub, workDir: work, run });
      if (files.efiImg) await esp.writeFile('EFI/BOOT/BOOTX64.EFI', await readFile(files.efiImg));
      for (const s of [medium.root.stage, medium.boot?.stage, esp]) await s?.finish();
      return files;
    });
    const rootStaged = await measureTree(medium.root.stage.dir);
    const bootStaged = medium.boot ? await measureTree(medium.boot.stage.dir) : undefined;
    const layout = planLayout({
      seed: opts.seed, boot, size,
      rootContentBytes: medium.root.measured.bytes + rootStaged.bytes,
      bootContentBytes: medium.boot && bootStaged ? medium.boot.measured.bytes + bootStaged.bytes : undefined,
    });
    // The deploy wrote these UUIDs into fstab, grub.cfg or BLS entries before the layout existed.
    if (partition(layout, 'root')!.fs!.uuid !== ids.rootUuid || (medium.boot && partition(layout, 'xbootldr')!.fs!.uuid !== ids.bootUuid)) {
      throw new IbError('internal error: the layout\'s filesystem UUIDs differ from diskIdentifiers()');
    }
    emit({ event: 'info', message: `disk ${formatBytes(layout.bytes)}: ${layout.partitions.map((p) => `${p.name} ${formatBytes(p.sectors * SECTOR)}`).join(', ')}` });

    await phase('partitioning', async () => {
      const f = await open(tmpRaw, 'w');
      await f.truncate(layout.bytes);
      await f.close();
      await writePartitionTable(tmpRaw, layout, { run });
    });
    const region = (role: PartitionRole): Region => {
      const p = partition(layout, role)!;
      return { image: tmpRaw, offset: p.start * SECTOR, bytes: p.sectors * SECTOR };
    };
    const fsOpts = { sourceDateEpoch: opts.sourceDateEpoch, workDir: work, run };
    const espPart = partition(layout, 'esp');
    if (espPart) await phase('making ESP', () => makeVfat(region('esp'), espPart.fs!, esp.dir, fsOpts));
    const bootContent = medium.boot;
    if (bootContent && bootStaged) {
      await bootContent.view.overlay(bootContent.stage.dir);
      await phase('making /boot filesystem', () => makeExt4(region('xbootldr'), partition(layout, 'xbootldr')!.fs!, bootContent.view, {
        ...fsOpts, inodes: bootContent.measured.inodes + bootStaged.inodes,
      }));
    }
    await medium.root.view.overlay(medium.root.stage.dir);
    await phase('making root filesystem', () => makeExt4(region('root'), partition(layout, 'root')!.fs!, medium.root.view, {
      ...fsOpts, inodes: medium.root.measured.inodes + rootStaged.inodes,
    }));
    const bios = partition(layout, 'bios-boot');
    const coreImg = grubFiles.coreImg;
    if (bios && coreImg) {
      await phase('installing GRUB for BIOS', () => installBiosBoot({ image: tmpRaw, coreImg, start: bios.start, sectors: bios.sectors }));
    }
    if (format === 'raw') {
      await rename(tmpRaw, opts.output);
    } else {
      // A VMDK's descriptor names its own file: convert to the final name inside a temp dir.
      await mkdir(tmpDir);
      const converted = join(tmpDir, basename(opts.output));
      await phase(`converting to ${format}`, () => convertRaw(tmpRaw, converted, format, {
        compress: opts.compress, run, seed: opts.seed, sourceDateEpoch: opts.sourceDateEpoch,
      }));
      await rename(converted, opts.output);
    }
    const st = await stat(opts.output);
    const seconds = (performance.now() - t0) / 1000;
    emit({ event: 'info', message: `wrote ${opts.output} (${format}, ${formatBytes(layout.bytes)} virtual, ${formatBytes(st.blocks * 512)} on disk) in ${seconds.toFixed(1)}s` });
    return {
      output: opts.output, format, bytes: st.size, allocatedBytes: st.blocks * 512, layout,
      kernel: medium.kernel, cmdline: medium.cmdline, seconds,
    };
  } catch (e) {
    throw e instanceof IbError ? e : wrap(`building disk ${opts.output}`, e);
  } finally {
    for (const v of views) await v.close();
    await rm(tmpRaw, { force: true });
    await rm(tmpDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}
