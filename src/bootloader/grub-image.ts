/**
 * GRUB images made with `grub-mkimage` (never grub-install, which wants a mounted target and
 * probes the host): the BIOS core.img, the El Torito CD image, and BOOTX64.EFI. Each embeds a
 * short config that finds the filesystem holding grub.cfg; the modules `insmod` loads later are
 * copied beside grub.cfg as grub-install would.
 */
import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';

export type GrubFormat = 'i386-pc' | 'i386-pc-eltorito' | 'x86_64-efi';

export const GRUB_LIB = '/usr/lib/grub';

/** What every image needs to find its config, read ext4/FAT, and boot Linux on a serial console. */
export const COMMON_MODULES = [
  'part_gpt', 'part_msdos', 'ext2', 'fat', 'search', 'search_fs_uuid', 'search_fs_file', 'search_label',
  'normal', 'configfile', 'linux', 'echo', 'test', 'serial', 'terminal', 'gzio', 'ls', 'cat', 'boot', 'loadenv',
] as const;

const FORMAT_MODULES: Record<GrubFormat, string[]> = {
  'i386-pc': ['biosdisk'],
  'i386-pc-eltorito': ['biosdisk', 'iso9660'],
  'x86_64-efi': ['efi_gop', 'efi_uga', 'all_video'],
};

/** The platform directory under /usr/lib/grub whose modules a format uses. */
export function grubPlatform(format: GrubFormat): 'i386-pc' | 'x86_64-efi' {
  return format === 'x86_64-efi' ? 'x86_64-efi' : 'i386-pc';
}

export function grubModules(format: GrubFormat, extra: readonly string[] = []): string[] {
  return [...new Set([...COMMON_MODULES, ...FORMAT_MODULES[format], ...extra])];
}

export interface GrubImageRequest {
  format: GrubFormat;
  /** Defaults to `grubModules(format)`. */
  modules?: readonly string[];
  /** The config compiled into the image (see `embeddedConfig`). */
  embeddedConfig: string;
  output: string;
  /** Where the embedded config's file is written. */
  workDir: string;
  /** Default prefix if the embedded config does not set one. */
  prefix?: string;
  run?: Run;
}

export async function makeGrubImage(req: GrubImageRequest): Promise<{ output: string; bytes: number }> {
  const run = req.run ?? defaultRun;
  const platformDir = join(GRUB_LIB, grubPlatform(req.format));
  await stat(join(platformDir, 'moddep.lst')).catch(() => {
    throw new IbError(`GRUB modules for ${grubPlatform(req.format)} are not installed (${platformDir})`, {
      hint: `install them with: apt-get install -y ${req.format === 'x86_64-efi' ? 'grub-efi-amd64-bin' : 'grub-pc-bin'}`,
    });
  });
  const cfg = join(req.workDir, `embed-${req.format}.cfg`);
  await writeFile(cfg, req.embeddedConfig);
  await run('grub-mkimage', [
    '-O', req.format,
    '-d', platformDir,
    '-o', req.output,
    '-p', req.prefix ?? '/boot/grub',
    '-c', cfg,
    ...(req.modules ?? grubModules(req.format)),
  ]);
  return { output: req.output, bytes: (await stat(req.output)).size };
}

/**
 * Copy `*.mod` and `*.lst` of a platform into `<grubDir>/<platform>/`, where `insmod` looks
 * ($prefix/<platform>). Returns the number of files copied.
 */
export async function copyGrubModules(format: GrubFormat, grubDir: string): Promise<number> {
  const platform = grubPlatform(format);
  const src = join(GRUB_LIB, platform);
  const dst = join(grubDir, platform);
  await mkdir(dst, { recursive: true });
  const names = (await readdir(src)).filter((n) => n.endsWith('.mod') || n.endsWith('.lst')).sort();
  for (const n of names) await copyFile(join(src, n), join(dst, n));
  return names.length;
}
