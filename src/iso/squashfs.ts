/**
 * The live root filesystem: a squashfs of the tree, made through the tree's no-atime view.
 * Squashfs directories are sorted by design; the creation time comes from SOURCE_DATE_EPOCH
 * (`-mkfs-time`), file times from the tree; so the same tree gives the same bytes.
 */
import { UsageError } from '../errors.js';
import type { TreeView } from '../disk/index.js';

export const COMPRESSIONS = ['zstd', 'xz'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Mount points and scratch space: the live system gets its own; the kernel sits beside the squashfs. */
export const SQUASHFS_EXCLUDES = ['boot/*', 'proc/*', 'sys/*', 'dev/*', 'run/*', 'tmp/*'] as const;

export function parseCompression(s: string): Compression {
  if ((COMPRESSIONS as readonly string[]).includes(s)) return s as Compression;
  throw new UsageError(`unsupported squashfs compression "${s}", valid values are ${COMPRESSIONS.join(', ')}`);
}

export function mksquashfsArgs(source: string, output: string, compression: Compression, sourceDateEpoch: number): string[] {
  return [
    source, output,
    '-noappend',
    '-comp', compression,
    '-mkfs-time', String(sourceDateEpoch),
    '-no-progress',
    '-quiet',
    // -e takes the rest of the command line: keep it last.
    '-wildcards', '-e', ...SQUASHFS_EXCLUDES,
  ];
}

export async function makeSquashfs(view: TreeView, output: string, opts: { compression: Compression; sourceDateEpoch: number }): Promise<void> {
  await view.exec('mksquashfs', mksquashfsArgs(view.inside, output, opts.compression, opts.sourceDateEpoch));
}
