/**
 * BIOS boot without grub-bios-setup (it cannot target an image file): ib writes GRUB's boot.img
 * into the MBR and core.img into the BIOS-boot partition itself, patching the sector pointers the
 * way grub-setup does (osbuild's grub2.inst stage does the same). Offsets are GRUB 2.06's
 * include/grub/i386/pc/boot.h.
 */
import { open, readFile } from 'node:fs/promises';
import { IbError } from '../errors.js';
import { GRUB_LIB } from './grub-image.js';

const SECTOR = 512;
/** boot.img: the BIOS parameter block copied from the existing MBR. */
const BPB_START = 0x03;
const BPB_END = 0x5a;
/** boot.img: LBA of core.img's first sector (u64). */
const KERNEL_SECTOR = 0x5c;
/** boot.img: 0xff = boot from the drive the BIOS passed in DL. */
const BOOT_DRIVE = 0x64;
/** boot.img: a jump that forces drive 0x80 unless NOP'ed (grub-setup does this for hard disks). */
const DRIVE_CHECK = 0x66;
/** MBR: disk signature, then the partition table and 0x55aa; kept from the existing MBR. */
const WINDOWS_NT_MAGIC = 0x1b8;
/** core.img (diskboot.img) sector 0: the last 12 bytes hold the blocklist for the rest. */
const BLOCKLIST = SECTOR - 12;
/** Segment the rest of core.img is loaded at (GRUB_BOOT_I386_PC_KERNEL_SEG + 0x20). */
const KERNEL_SEG = 0x820;

export interface BiosInstall {
  /** The raw disk image, with its GPT already written. */
  image: string;
  /** `grub-mkimage -O i386-pc` output. */
  coreImg: string;
  /** The BIOS-boot partition, in 512-byte sectors. */
  start: number;
  sectors: number;
  bootImg?: string;
}

/** The patched MBR and core.img bytes (pure: exposed for the unit test). */
export function patchBiosImages(mbr: Buffer, bootImg: Buffer, core: Buffer, start: number): { mbr: Buffer; core: Buffer } {
  if (bootImg.length !== SECTOR) throw new IbError(`boot.img is ${bootImg.length} bytes, expected ${SECTOR}`);
  if (mbr.length !== SECTOR) throw new IbError(`MBR is ${mbr.length} bytes, expected ${SECTOR}`);
  const padded = Buffer.alloc(Math.ceil(core.length / SECTOR) * SECTOR);
  core.copy(padded);
  const sectors = padded.length / SECTOR;
  if (padded.readUInt16LE(BLOCKLIST + 10) !== KERNEL_SEG) {
    throw new IbError('core.img does not look like a GRUB i386-pc image (no diskboot blocklist)');
  }
  padded.writeBigUInt64LE(BigInt(start + 1), BLOCKLIST);
  padded.writeUInt16LE(sectors - 1, BLOCKLIST + 8);
  padded.writeUInt16LE(KERNEL_SEG, BLOCKLIST + 10);

  const out = Buffer.from(mbr);
  bootImg.copy(out, 0, 0, BPB_START);
  bootImg.copy(out, BPB_END, BPB_END, WINDOWS_NT_MAGIC);
  out.writeBigUInt64LE(BigInt(start), KERNEL_SECTOR);
  out[BOOT_DRIVE] = 0xff;
  out[DRIVE_CHECK] = 0x90;
  out[DRIVE_CHECK + 1] = 0x90;
  return { mbr: out, core: padded };
}

export async function installBiosBoot(req: BiosInstall): Promise<{ coreSectors: number }> {
  const bootImg = await readFile(req.bootImg ?? `${GRUB_LIB}/i386-pc/boot.img`);
  const core = await readFile(req.coreImg);
  const f = await open(req.image, 'r+');
  try {
    const mbr = Buffer.alloc(SECTOR);
    await f.read(mbr, 0, SECTOR, 0);
    if (mbr.readUInt16LE(0x1fe) !== 0xaa55) throw new IbError(`${req.image} has no partition table to install GRUB next to`);
    const p = patchBiosImages(mbr, bootImg, core, req.start);
    const coreSectors = p.core.length / SECTOR;
    if (coreSectors > req.sectors) {
      throw new IbError(`GRUB core.img (${coreSectors} sectors) does not fit the BIOS boot partition (${req.sectors} sectors)`, {
        hint: 'embed fewer GRUB modules; the rest load from /boot/grub at boot',
      });
    }
    await f.write(p.core, 0, p.core.length, req.start * SECTOR);
    await f.write(p.mbr, 0, SECTOR, 0);
    return { coreSectors };
  } finally {
    await f.close();
  }
}
