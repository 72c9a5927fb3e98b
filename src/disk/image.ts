/**
 * Image formats: ib always builds a raw disk and converts it with `qemu-img convert`.
 * A table, so a new format is one line.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import { IbError, UsageError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';

interface FormatDef {
  /** qemu-img's name for it. */
  qemu: string;
  options: (compress: boolean) => string[];
  description: string;
}

export const FORMATS = {
  raw: { qemu: 'raw', options: () => [], description: 'plain disk image' },
  // Uncompressed by default: -c costs ~20 s here and slows every TCG boot that reads it.
  qcow2: { qemu: 'qcow2', options: (c) => (c ? ['-c'] : []), description: 'QEMU/KVM, libvirt, OpenStack' },
  vmdk: { qemu: 'vmdk', options: () => ['-o', 'subformat=streamOptimized'], description: 'VMware (streamOptimized)' },
  // Azure wants a fixed VHD whose size is a whole number of MiB: force_size keeps ours instead
  // of rounding to a CHS geometry.
  vhd: { qemu: 'vpc', options: () => ['-o', 'subformat=fixed,force_size=on'], description: 'Hyper-V/Azure (fixed VHD)' },
} satisfies Record<string, FormatDef>;

export type DiskFormat = keyof typeof FORMATS;

export function parseFormat(s: string): DiskFormat {
  if (s in FORMATS) return s as DiskFormat;
  throw new UsageError(`unsupported disk format "${s}", valid formats are ${Object.keys(FORMATS).join(', ')}`);
}

/**
 * `qemu-img convert`, then the fields qemu fills with randomness or the clock set from the seed:
 * a VMDK's descriptor CID, a VHD footer's timestamp and UUID. (A VMDK descriptor also names its
 * own file: convert to the final file name, in a temporary directory, and move it.)
 */
export async function convertRaw(raw: string, output: string, format: DiskFormat, opts: {
  compress?: boolean; run?: Run; seed?: string; sourceDateEpoch?: number;
} = {}): Promise<void> {
  const run = opts.run ?? defaultRun;
  const def: FormatDef = FORMATS[format];
  await run('qemu-img', ['convert', '-f', 'raw', '-O', def.qemu, ...def.options(opts.compress ?? false), raw, output]);
  const seed = opts.seed ?? '';
  if (format === 'vmdk') await fixVmdkCid(output, seed);
  if (format === 'vhd') await fixVhdFooter(output, seed, opts.sourceDateEpoch ?? 0);
}

const seeded = (seed: string, purpose: string) => createHash('sha256').update(`ib:${purpose}\0${seed}`).digest();

/** The descriptor's `CID=xxxxxxxx` (8 hex digits, random in qemu) → derived from the seed. */
async function fixVmdkCid(path: string, seed: string): Promise<void> {
  const f = await open(path, 'r+');
  try {
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await f.read(head, 0, head.length, 0);
    const at = head.subarray(0, bytesRead).indexOf('\nCID=');
    if (at < 0) throw new IbError(`${path}: no CID in the VMDK descriptor`);
    await f.write(Buffer.from(seeded(seed, 'vmdk-cid').toString('hex').slice(0, 8)), 0, 8, at + 5);
  } finally {
    await f.close();
  }
}

/** Seconds between 1970 and the VHD epoch, 2000-01-01 00:00:00 UTC. */
const VHD_EPOCH = 946684800;

/** A fixed VHD's footer (its last 512 bytes): timestamp (24), checksum (64), UUID (68). */
export function fixVhdFooterBytes(footer: Buffer, seed: string, sourceDateEpoch: number): void {
  if (footer.toString('latin1', 0, 8) !== 'conectix') throw new IbError('not a VHD footer');
  footer.writeUInt32BE(Math.max(0, sourceDateEpoch - VHD_EPOCH), 24);
  seeded(seed, 'vhd-uuid').copy(footer, 68, 0, 16);
  footer.writeUInt32BE(0, 64);
  let sum = 0;
  for (const b of footer) sum = (sum + b) >>> 0;
  footer.writeUInt32BE(~sum >>> 0, 64);
}

async function fixVhdFooter(path: string, seed: string, sourceDateEpoch: number): Promise<void> {
  const f = await open(path, 'r+');
  try {
    const { size } = await f.stat();
    const footer = Buffer.alloc(512);
    await f.read(footer, 0, 512, size - 512);
    fixVhdFooterBytes(footer, seed, sourceDateEpoch);
    await f.write(footer, 0, 512, size - 512);
  } finally {
    await f.close();
  }
}

export const ImageInfo = z.object({
  format: z.string(),
  'virtual-size': z.number(),
  'actual-size': z.number().optional(),
  filename: z.string(),
  'format-specific': z.object({ type: z.string(), data: z.record(z.string(), z.unknown()) }).optional(),
});
export type ImageInfo = z.infer<typeof ImageInfo>;

/**
 * qemu's name for an image's format when the file name says it: a fixed VHD is raw bytes plus a
 * footer, so qemu's probe calls it `raw` and would boot it one sector too long.
 */
export function formatFromName(path: string): string | undefined {
  return /\.vhd$/i.test(path) ? 'vpc' : undefined;
}

/** `qemu-img info --output=json`, parsed. */
export async function imageInfo(path: string, opts: { run?: Run; format?: string } = {}): Promise<ImageInfo> {
  const run = opts.run ?? defaultRun;
  const format = opts.format ?? formatFromName(path);
  const r = await run('qemu-img', ['info', '-U', '--output=json', ...(format ? ['-f', format] : []), path]);
  return ImageInfo.parse(JSON.parse(r.stdout));
}
