/**
 * The hybrid ISO: ISO 9660 + Rock Ridge + Joliet, El Torito BIOS (GRUB's eltorito image) and UEFI
 * (an EFI system image appended as GPT partition 2), and an MBR/GPT so the same file boots from a
 * USB stick. The command is HOWTO-BOOT §7's, proven on this machine; SOURCE_DATE_EPOCH in the
 * environment makes xorriso fix every volume date, file time and the GPT/volume UUIDs.
 */
import { run as defaultRun, type Run } from '../exec/run.js';
import { GRUB_LIB } from '../bootloader/index.js';

const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const BASIC_DATA_TYPE = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';

export interface XorrisoInput {
  stage: string;
  output: string;
  label: string;
  /** Relative to the stage: the GRUB i386-pc-eltorito image. */
  biosImage: string;
  /** A FAT image holding EFI/BOOT/BOOTX64.EFI. */
  efiImage: string;
}

export function xorrisoArgs(i: XorrisoInput): string[] {
  return [
    '-as', 'mkisofs',
    '-iso-level', '3',
    '-full-iso9660-filenames',
    '-joliet',
    '-rational-rock',
    '-volid', i.label,
    '-o', i.output,
    '--grub2-mbr', `${GRUB_LIB}/i386-pc/boot_hybrid.img`,
    '-partition_offset', '16',
    '-appended_part_as_gpt',
    '-append_partition', '2', ESP_TYPE, i.efiImage,
    '-iso_mbr_part_type', BASIC_DATA_TYPE,
    '-c', 'boot/boot.cat',
    '-b', i.biosImage,
    '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info',
    '-eltorito-alt-boot',
    '-e', '--interval:appended_partition_2:::',
    '-no-emul-boot',
    i.stage,
  ];
}

export async function makeHybridIso(i: XorrisoInput, opts: { sourceDateEpoch: number; run?: Run }): Promise<void> {
  const run = opts.run ?? defaultRun;
  await run('xorriso', xorrisoArgs(i), { env: { SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), TZ: 'UTC' } });
}
