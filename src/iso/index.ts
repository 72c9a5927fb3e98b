/**
 * Live ISOs from a root tree: the tree as a squashfs, kernel and live initramfs beside it, GRUB
 * for El Torito BIOS and UEFI finding the medium by a marker file, all in one hybrid ISO that
 * also boots as a disk. The tree is only read (through the no-atime view); the same tree gives a
 * byte-identical ISO.
 */
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { IbError, UsageError, wrap } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { emit, formatBytes, phase } from '../log.js';
import {
  CONSOLE_KARGS, copyGrubModules, embeddedConfig, findKernel, grubConfig, grubModules, makeGrubImage, uniqueKargs, type KernelFiles,
} from '../bootloader/index.js';
import { MiB, Stage, TreeView, deriveVolumeId, makeVfat } from '../disk/index.js';
import { liveBootSupport } from './live-boot.js';
import { makeSquashfs, parseCompression, type Compression } from './squashfs.js';
import { makeHybridIso } from './xorriso.js';

export { liveBootSupport, type LiveBootSupport } from './live-boot.js';
export { mksquashfsArgs, parseCompression, COMPRESSIONS, SQUASHFS_EXCLUDES, type Compression } from './squashfs.js';
export { xorrisoArgs, type XorrisoInput } from './xorriso.js';

export interface BuildIsoOptions {
  /** A flattened root tree with live-boot installed; read, never written. */
  tree: string;
  output: string;
  /** ISO 9660 volume id: up to 32 of A–Z, 0–9, _ (default IB_LIVE). */
  label?: string;
  /** Extra kernel arguments after `boot=live console=…`. */
  kargs?: readonly string[];
  compression?: Compression | string;
  sourceDateEpoch: number;
  run?: Run;
}

export interface BuildIsoResult {
  output: string;
  bytes: number;
  squashfsBytes: number;
  kernel: KernelFiles;
  cmdline: string;
  /** The file GRUB searches for to find this medium (`/.disk/ib-<hash of the squashfs>`). */
  marker: string;
  seconds: number;
}

const BIOS_IMAGE = 'boot/grub/bios.img';

export function checkLabel(label: string): string {
  if (!/^[A-Z0-9_]{1,32}$/.test(label)) {
    throw new UsageError(`invalid ISO label "${label}"`, { hint: 'use 1 to 32 characters of A-Z, 0-9 and _, like ACME_LIVE' });
  }
  return label;
}

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

export async function buildIso(opts: BuildIsoOptions): Promise<BuildIsoResult> {
  const t0 = performance.now();
  const run = opts.run ?? defaultRun;
  const label = checkLabel(opts.label ?? 'IB_LIVE');
  const compression = parseCompression(opts.compression ?? 'zstd');
  if (!lstatSync(opts.tree, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${opts.tree} is not a directory`, { hint: 'pass the root tree of the image (flattened)' });
  }
  const work = await mkdtemp(join(tmpdir(), 'ib-iso-'));
  const tmpOut = join(dirname(opts.output), `.${basename(opts.output)}.ib-${process.pid}.tmp`);
  let view: TreeView | undefined;
  try {
    view = await TreeView.open(opts.tree, work, { run });
    const root = view.path;
    const kernel = findKernel(root, opts.tree);
    const live = liveBootSupport(root, opts.tree);
    const cmdline = uniqueKargs([...live.kargs, ...CONSOLE_KARGS, ...(opts.kargs ?? [])]).join(' ');
    const stage = new Stage(join(work, 'iso'), undefined, opts.sourceDateEpoch);
    const squashfs = stage.path('live/filesystem.squashfs');
    await stage.mkdir('live');
    const liveView = view;
    await phase(`squashing the tree (${compression})`, () => makeSquashfs(liveView, squashfs, { compression, sourceDateEpoch: opts.sourceDateEpoch }));
    const squashfsBytes = (await stat(squashfs)).size;
    await copyFile(join(root, kernel.kernel), stage.path('live/vmlinuz'));
    await copyFile(join(root, kernel.initrd), stage.path('live/initrd.img'));

    // A marker unique to this content lets GRUB find this medium and not another ISO attached too.
    const id = (await sha256File(squashfs)).slice(0, 16);
    const marker = `/.disk/ib-${id}`;
    await stage.writeFile(marker.slice(1), `${label}\n`);
    const efiImage = join(work, 'efiboot.img');
    await phase('making GRUB images', async () => {
      const grubDir = await stage.mkdir('boot/grub');
      await stage.writeFile('boot/grub/grub.cfg', grubConfig({
        entries: [{ title: `${label} (live)`, kernel: '/live/vmlinuz', initrd: '/live/initrd.img', cmdline }],
      }));
      await copyGrubModules('i386-pc', grubDir);
      await copyGrubModules('x86_64-efi', grubDir);
      const embed = embeddedConfig({ file: marker }, '/boot/grub');
      await makeGrubImage({
        format: 'i386-pc-eltorito', embeddedConfig: embed, output: stage.path(BIOS_IMAGE), workDir: work, run,
      });
      const efi = join(work, 'BOOTX64.EFI');
      const made = await makeGrubImage({
        format: 'x86_64-efi', modules: grubModules('x86_64-efi', ['iso9660']), embeddedConfig: embed, output: efi, workDir: work, run,
      });
      const esp = new Stage(join(work, 'efi'), undefined, opts.sourceDateEpoch);
      await esp.writeFile('EFI/BOOT/BOOTX64.EFI', await readFile(efi));
      await esp.finish();
      const bytes = Math.ceil((made.bytes + 512 * 1024) / MiB) * MiB;
      await writeFile(efiImage, '');
      await truncate(efiImage, bytes);
      await makeVfat({ image: efiImage, offset: 0, bytes }, { type: 'vfat', label: 'EFIBOOT', uuid: deriveVolumeId(id, 'fs:efiboot') }, esp.dir, {
        sourceDateEpoch: opts.sourceDateEpoch, workDir: work, run, fat32: false,
      });
    });
    await stage.finish();
    await phase('writing the ISO', () => makeHybridIso({ stage: stage.dir, output: tmpOut, label, biosImage: BIOS_IMAGE, efiImage }, {
      sourceDateEpoch: opts.sourceDateEpoch, run,
    }));
    await rename(tmpOut, opts.output);
    const bytes = (await stat(opts.output)).size;
    const seconds = (performance.now() - t0) / 1000;
    emit({ event: 'info', message: `wrote ${opts.output} (${formatBytes(bytes)}, squashfs ${formatBytes(squashfsBytes)}) in ${seconds.toFixed(1)}s` });
    return { output: opts.output, bytes, squashfsBytes, kernel, cmdline, marker, seconds };
  } catch (e) {
    throw e instanceof IbError ? e : wrap(`building ISO ${opts.output}`, e);
  } finally {
    await view?.close();
    await rm(tmpOut, { force: true });
    await rm(work, { recursive: true, force: true });
  }
}
