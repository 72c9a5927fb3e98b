/**
 * The live root filesystem: a squashfs of the tree, made through the tree's no-atime view.
 * Squashfs directories are sorted by design; the creation time comes from SOURCE_DATE_EPOCH
 * (`-mkfs-time`), file times from the tree; so the same tree gives the same bytes.
 */
import { UsageError } from '../errors.js';
import { emit } from '../log.js';
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
    // Only the progress bar (`[===  ] 1234/5678  21%`) on stdout, which ib turns into events.
    '-quiet',
    // -e takes the rest of the command line: keep it last.
    '-wildcards', '-e', ...SQUASHFS_EXCLUDES,
  ];
}

/** The last `done/total pct%` of mksquashfs's progress bar in a chunk of its output. */
export function parseProgress(chunk: string): { done: number; total: number; percent: number } | undefined {
  const m = [...chunk.matchAll(/(\d+)\/(\d+)\s+(\d+)%/g)].pop();
  return m ? { done: Number(m[1]), total: Number(m[2]), percent: Number(m[3]) } : undefined;
}

export async function makeSquashfs(view: TreeView, output: string, opts: { compression: Compression; sourceDateEpoch: number }): Promise<void> {
  const p = view.spawn('mksquashfs', mksquashfsArgs(view.inside, output, opts.compression, opts.sourceDateEpoch), { stdout: 'pipe' });
  let shown = -1;
  p.stdout?.on('data', (d: Buffer) => {
    const got = parseProgress(d.toString('latin1'));
    if (got && (got.percent >= shown + 5 || (got.percent === 100 && shown < 100))) {
      shown = got.percent;
      emit({ event: 'progress', what: 'squashfs', done: got.done, total: got.total });
    }
  });
  await p.done;
}
