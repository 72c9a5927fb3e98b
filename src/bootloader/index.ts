/**
 * Bootloader: kernel discovery, GRUB images for BIOS, El Torito and UEFI, their placement, and
 * the grub.cfg they share. Knows nothing of disks' layouts or of recipes: callers pass where
 * things go.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Run } from '../exec/run.js';
import { embeddedConfig, grubConfig, type GrubSearch, type MenuEntry } from './grub-config.js';
import { copyGrubModules, makeGrubImage } from './grub-image.js';

export { findKernel, listKernels, compareVersions, kernelArch, type KernelFiles } from './kernel.js';
export {
  makeGrubImage, copyGrubModules, grubModules, grubPlatform, COMMON_MODULES, GRUB_LIB,
  type GrubFormat, type GrubImageRequest,
} from './grub-image.js';
export {
  embeddedConfig, grubConfig, kernelCmdline, quote, uniqueKargs, CONSOLE_KARGS,
  type GrubSearch, type MenuEntry, type GrubConfigOptions,
} from './grub-config.js';
export { installBiosBoot, patchBiosImages, type BiosInstall } from './bios.js';

export interface GrubSetup {
  firmware: readonly ('bios' | 'uefi')[];
  /** The directory that becomes `$prefix` on the target filesystem (e.g. `<stage>/boot/grub`). */
  grubDir: string;
  /** How the images find that filesystem. */
  search: GrubSearch;
  /** `$prefix` as seen from that filesystem's root (`/boot/grub`, or `/grub` on a separate /boot). */
  prefix: string;
  /** The menu; omitted when the tree brings its own grub.cfg (ostree's). */
  entries?: MenuEntry[];
  timeout?: number;
  /** Scratch dir for the images and their embedded configs. */
  workDir: string;
  run?: Run;
}

export interface GrubFiles {
  /** i386-pc core.img, for `installBiosBoot`. */
  coreImg?: string;
  /** x86_64-efi image, to go to `EFI/BOOT/BOOTX64.EFI` on the ESP. */
  efiImg?: string;
}

/** Write grub.cfg (if given entries) and the module dirs into `grubDir`, and make the firmware images. */
export async function prepareGrub(s: GrubSetup): Promise<GrubFiles> {
  await mkdir(s.grubDir, { recursive: true });
  if (s.entries) await writeFile(join(s.grubDir, 'grub.cfg'), grubConfig({ entries: s.entries, timeout: s.timeout }));
  const embed = embeddedConfig(s.search, s.prefix);
  const out: GrubFiles = {};
  if (s.firmware.includes('bios')) {
    await copyGrubModules('i386-pc', s.grubDir);
    out.coreImg = join(s.workDir, 'core.img');
    await makeGrubImage({ format: 'i386-pc', embeddedConfig: embed, output: out.coreImg, workDir: s.workDir, prefix: s.prefix, run: s.run });
  }
  if (s.firmware.includes('uefi')) {
    await copyGrubModules('x86_64-efi', s.grubDir);
    out.efiImg = join(s.workDir, 'BOOTX64.EFI');
    await makeGrubImage({ format: 'x86_64-efi', embeddedConfig: embed, output: out.efiImg, workDir: s.workDir, prefix: s.prefix, run: s.run });
  }
  return out;
}
