/**
 * The partition layout of a disk image, as a pure function of sizes and a seed: GPT with an
 * optional BIOS-boot partition (GRUB's core.img lives there), an optional ESP, an optional
 * XBOOTLDR `/boot`, and the root. Every identifier (disk GUID, partition UUIDs, filesystem UUIDs,
 * the FAT volume id, ext4 hash seeds) is derived from the seed with sha256, so the same inputs give
 * the same bytes; nothing here touches the disk.
 */
import { createHash } from 'node:crypto';
import { IbError, UsageError } from '../errors.js';
import { formatBytes } from '../log.js';

export const SECTOR = 512;
export const MiB = 1024 * 1024;
const ALIGN = MiB;

/**
 * GPT partition type GUIDs. sfdisk accepts any well-formed GUID without complaint, so a typo here
 * would make a disk that firmware silently ignores; the unit test pins each value.
 */
export const PART_TYPE = {
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  /** Discoverable Partitions Specification: root, x86-64. */
  root: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
} as const;

export type PartitionRole = keyof typeof PART_TYPE;
export type Firmware = 'bios' | 'uefi';

export interface Filesystem {
  type: 'ext4' | 'vfat';
  label: string;
  /** ext4: a UUID; vfat: the 8-hex-digit volume id shown as XXXX-XXXX. */
  uuid: string;
  /** ext4 only: the directory hash seed (`-E hash_seed=`). */
  hashSeed?: string;
}

export interface Partition {
  role: PartitionRole;
  /** 1-based partition number. */
  number: number;
  name: string;
  typeGuid: string;
  uuid: string;
  /** In 512-byte sectors. */
  start: number;
  sectors: number;
  fs?: Filesystem;
}

export interface DiskLayout {
  diskGuid: string;
  /** Whole image size in bytes (a multiple of 1 MiB, which Azure's VHDs need). */
  bytes: number;
  partitions: Partition[];
}

export interface LayoutRequest {
  seed: string;
  boot: readonly Firmware[];
  /** Estimated bytes the root filesystem's content needs (see `estimateExt4Bytes`). */
  rootContentBytes: number;
  /** Content of a separate /boot (XBOOTLDR); omit for no /boot partition. */
  bootContentBytes?: number;
  /** Total image size; computed from the content with headroom when omitted. */
  size?: number;
  espBytes?: number;
}

const BIOS_BOOT_BYTES = 1 * MiB;
/** FAT32 needs at least 65525 clusters; 128 MiB keeps 512-byte clusters legal with room for kernels. */
export const DEFAULT_ESP_BYTES = 128 * MiB;
/** What a just-booted system writes before anything grows the disk (journal, logs, apt lists). */
const ROOT_HEADROOM_BYTES = 256 * MiB;
const ROOT_HEADROOM_RATIO = 1.25;

/**
 * A UUID derived from the seed and a purpose string. Version/variant bits are set as for v4
 * (as systemd-repart does for its hashed UUIDs) so every tool parses it.
 */
export function deriveUuid(seed: string, purpose: string): string {
  const h = createHash('sha256').update(`ib:${purpose}\0${seed}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** A FAT volume id (32 bits, 8 hex digits, upper case as mkfs.vfat prints it). */
export function deriveVolumeId(seed: string, purpose: string): string {
  return createHash('sha256').update(`ib:${purpose}\0${seed}`).digest('hex').slice(0, 8).toUpperCase();
}

/** `4G`, `1536M`, `2GiB`, `10737418240` → bytes. Units are binary (K=1024). */
export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(s);
  if (!m) {
    throw new UsageError(`invalid size "${s}"`, { hint: 'use a number with an optional unit, like 4G, 1536M or 10737418240' });
  }
  const mult = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * mult);
}

const alignUp = (n: number, a = ALIGN) => Math.ceil(n / a) * a;

/** Smallest ext4 that can hold the content: data plus journal and metadata, no headroom. */
export function minExt4Bytes(contentBytes: number): number {
  return alignUp(Math.ceil((contentBytes * 11) / 10) + 64 * MiB);
}

/** The default: content plus room to boot, log and install a few packages. */
export function defaultExt4Bytes(contentBytes: number): number {
  return alignUp(Math.ceil(contentBytes * ROOT_HEADROOM_RATIO) + ROOT_HEADROOM_BYTES);
}

export function planLayout(req: LayoutRequest): DiskLayout {
  if (req.boot.length === 0) throw new UsageError('no firmware to boot from', { hint: 'pass --boot bios, --boot uefi or --boot bios,uefi' });
  const parts: Omit<Partition, 'number'>[] = [];
  let cursor = ALIGN;
  const add = (role: PartitionRole, name: string, bytes: number, fs?: Filesystem) => {
    parts.push({
      role, name, typeGuid: PART_TYPE[role], uuid: deriveUuid(req.seed, `part:${role}`),
      start: cursor / SECTOR, sectors: bytes / SECTOR, fs,
    });
    cursor += bytes;
  };
  if (req.boot.includes('bios')) add('bios-boot', 'BIOS boot', BIOS_BOOT_BYTES);
  if (req.boot.includes('uefi')) {
    add('esp', 'ESP', alignUp(req.espBytes ?? DEFAULT_ESP_BYTES),
      { type: 'vfat', label: 'ESP', uuid: deriveVolumeId(req.seed, 'fs:esp') });
  }
  if (req.bootContentBytes !== undefined) {
    add('xbootldr', 'boot', defaultExt4Bytes(req.bootContentBytes), ext4(req.seed, 'xbootldr', 'boot'));
  }
  // The backup GPT takes the last 33 sectors; keep the final MiB free for it.
  const tail = ALIGN;
  const minRoot = minExt4Bytes(req.rootContentBytes);
  let rootBytes: number;
  let total: number;
  if (req.size !== undefined) {
    total = Math.floor(req.size / ALIGN) * ALIGN;
    rootBytes = total - cursor - tail;
    if (rootBytes < minRoot) {
      throw new IbError(
        `disk size ${formatBytes(req.size)} is too small: the root filesystem needs at least ${formatBytes(minRoot)} ` +
          `for ${formatBytes(req.rootContentBytes)} of content`,
        { hint: `use --size ${(cursor + minRoot + tail) / MiB}M or larger, or omit --size to size the disk from its content` },
      );
    }
  } else {
    rootBytes = defaultExt4Bytes(req.rootContentBytes);
    total = cursor + rootBytes + tail;
  }
  add('root', 'root', rootBytes, ext4(req.seed, 'root', 'root'));
  return {
    diskGuid: deriveUuid(req.seed, 'disk'),
    bytes: total,
    partitions: parts.map((p, i) => ({ ...p, number: i + 1 })),
  };
}

function ext4(seed: string, role: string, label: string): Filesystem {
  return { type: 'ext4', label, uuid: deriveUuid(seed, `fs:${role}`), hashSeed: deriveUuid(seed, `hash:${role}`) };
}

export function partition(layout: DiskLayout, role: PartitionRole): Partition | undefined {
  return layout.partitions.find((p) => p.role === role);
}

/** The sfdisk script that writes this layout (`sfdisk IMAGE < script`). */
export function sfdiskScript(layout: DiskLayout): string {
  const lines = [
    'label: gpt',
    `label-id: ${layout.diskGuid.toUpperCase()}`,
    'unit: sectors',
    'first-lba: 2048',
    'sector-size: 512',
    '',
  ];
  for (const p of layout.partitions) {
    lines.push(`start=${p.start}, size=${p.sectors}, type=${p.typeGuid}, uuid=${p.uuid.toUpperCase()}, name="${p.name}"`);
  }
  return lines.join('\n') + '\n';
}
