/**
 * Image formats: ib always builds a raw disk and converts it with `qemu-img convert`.
 * A table, so a new format is one line.
 */
import { z } from 'zod';
import { UsageError } from '../errors.js';
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

export async function convertRaw(raw: string, output: string, format: DiskFormat, opts: { compress?: boolean; run?: Run } = {}): Promise<void> {
  const run = opts.run ?? defaultRun;
  const def: FormatDef = FORMATS[format];
  await run('qemu-img', ['convert', '-f', 'raw', '-O', def.qemu, ...def.options(opts.compress ?? false), raw, output]);
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
