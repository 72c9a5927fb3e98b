/**
 * Filesystems built from directories straight into a disk image at a partition's offset: no loop
 * device, no mount of the image, nothing written outside the partition's byte range, and the same
 * input gives the same bytes.
 */
import { symlink, lstat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError, wrap } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import type { Filesystem } from './layout.js';
import type { TreeView } from './tree-view.js';

/** A byte range of an image file that one filesystem fills. */
export interface Region {
  image: string;
  offset: number;
  bytes: number;
}

export interface FsOptions {
  sourceDateEpoch: number;
  /** A private scratch directory (command files, mount points, an alias of the image). */
  workDir: string;
  run?: Run;
}

/**
 * libext2fs reads `name?offset=N` as "the filesystem starts N bytes into the file", so an image
 * path containing `?` would be misread: the tools get a plain alias in the work dir instead.
 */
async function imageAlias(region: Region, workDir: string): Promise<string> {
  const alias = join(workDir, `image-${region.offset}`);
  await symlink(region.image, alias).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return alias;
}

/**
 * ext4 from a tree view (the tree, plus its overlay of additions if any). `mkfs.ext4 -d` copies atime and ctime from the
 * source files to the second, and ctime cannot be set from user space, so both are rewritten to
 * SOURCE_DATE_EPOCH afterwards with debugfs; E2FSPROGS_FAKE_TIME fixes crtime and the superblock
 * times (this e2fsprogs ignores SOURCE_DATE_EPOCH).
 */
export async function makeExt4(region: Region, fs: Filesystem, view: TreeView, opts: FsOptions & { inodes?: number }): Promise<void> {
  const run = opts.run ?? defaultRun;
  const image = await imageAlias(region, opts.workDir);
  const env = { E2FSPROGS_FAKE_TIME: String(opts.sourceDateEpoch) };
  const ext = [`offset=${region.offset}`, `root_owner=0:0`];
  if (fs.hashSeed) ext.push(`hash_seed=${fs.hashSeed}`);
  const defaultInodes = Math.floor(region.bytes / 16384);
  const wanted = opts.inodes === undefined ? 0 : Math.ceil(opts.inodes * 1.25) + 1024;
  try {
    await view.exec('mkfs.ext4', [
      '-q', '-F', '-t', 'ext4',
      '-L', fs.label,
      '-U', fs.uuid,
      '-E', ext.join(','),
      ...(wanted > defaultInodes ? ['-N', String(wanted)] : []),
      '-d', view.inside,
      image, `${Math.floor(region.bytes / 1024)}k`,
    ], { env });
  } catch (e) {
    if (/Could not allocate block|No space left|Could not allocate inode/i.test(String((e as Error).message))) {
      throw new IbError(`the ${fs.label} filesystem (${Math.round(region.bytes / 1048576)} MiB) is too small for its content`, {
        cause: e, hint: 'give a larger --size, or omit --size to size the disk from its content',
      });
    }
    throw wrap(`making the ${fs.label} filesystem`, e);
  }
  await normaliseExt4Times(image, region.offset, opts, run);
}

/** The used inodes, from dumpe2fs's per-group free lists. */
export function usedInodes(dumpe2fs: string): number[] {
  const num = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(dumpe2fs);
    if (!m) throw new IbError(`dumpe2fs output has no "${key}"`);
    return Number(m[1]);
  };
  const count = num('Inode count');
  const perGroup = num('Inodes per group');
  const first = num('First inode');
  const free = new Set<number>();
  const groups = dumpe2fs.split(/^Group \d+:/m).slice(1);
  if (groups.length !== Math.ceil(count / perGroup)) throw new IbError('dumpe2fs output lists an unexpected number of groups');
  for (const g of groups) {
    const m = /^\s+Free inodes:[ \t]*(.*)$/m.exec(g);
    if (!m) throw new IbError('dumpe2fs output has a group without "Free inodes"');
    for (const range of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [a, b] = range.split('-').map(Number);
      for (let i = a!; i <= (b ?? a!); i++) free.add(i);
    }
  }
  const used: number[] = [];
  for (let i = 1; i <= count; i++) {
    // Reserved inodes other than the root dir keep mkfs's own (fake) times.
    if (free.has(i) || (i < first && i !== 2)) continue;
    used.push(i);
  }
  return used;
}

async function normaliseExt4Times(image: string, offset: number, opts: FsOptions, run: Run): Promise<void> {
  const dev = `${image}?offset=${offset}`;
  const env = { E2FSPROGS_FAKE_TIME: String(opts.sourceDateEpoch) };
  const dump = await run('dumpe2fs', [dev], { env });
  const t = `@${opts.sourceDateEpoch}`;
  const cmds = usedInodes(dump.stdout).map((i) => `sif <${i}> atime ${t}\nsif <${i}> ctime ${t}\n`).join('');
  const file = join(opts.workDir, `debugfs-${offset}.cmds`);
  await writeFile(file, cmds);
  const r = await run('debugfs', ['-w', '-f', file, dev], { env });
  // debugfs reports command errors on stderr but exits 0.
  const errors = r.stderr.split('\n').filter((l) => l.trim() && !/^debugfs \d/.test(l));
  if (errors.length) throw new IbError(`normalising times in the filesystem at offset ${offset}: ${errors.slice(0, 5).join('; ')}`);
}

/** FAT sectors per cluster as Microsoft's table picks them for FAT32 (mkfs.fat guesses wrong at an offset). */
export function fatSectorsPerCluster(bytes: number): number {
  const MiB = 1024 * 1024;
  if (bytes <= 260 * MiB) return 1;
  if (bytes <= 8192 * MiB) return 8;
  if (bytes <= 16384 * MiB) return 16;
  return 32;
}

/**
 * FAT32 (an ESP) filled from a directory: `mkfs.vfat --invariant` for fixed boot-sector values,
 * then `mmd`/`mcopy` in sorted order with TZ=UTC and SOURCE_DATE_EPOCH so directory entries and
 * their times do not depend on readdir order or the host's clock and zone.
 */
export async function makeVfat(region: Region, fs: Filesystem, sourceDir: string, opts: FsOptions & { fat32?: boolean }): Promise<void> {
  const run = opts.run ?? defaultRun;
  const image = await imageAlias(region, opts.workDir);
  if (region.offset % 512 !== 0) throw new IbError(`FAT offset ${region.offset} is not sector aligned`);
  // FAT32 needs 65525 clusters (32 MiB and up); small images (an El Torito EFI image) let
  // mkfs.vfat pick FAT12/16.
  const fat32 = opts.fat32 ?? true;
  await run('mkfs.vfat', [
    '--invariant', '-S', '512',
    ...(fat32 ? ['-F', '32', '-s', String(fatSectorsPerCluster(region.bytes))] : []),
    '-n', fs.label,
    '-i', fs.uuid,
    `--offset=${region.offset / 512}`,
    image, String(Math.floor(region.bytes / 1024)),
  ], { env: { TZ: 'UTC' } });
  const env = { TZ: 'UTC', SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), MTOOLSRC: '/dev/null', MTOOLS_SKIP_CHECK: '1' };
  const target = `${image}@@${region.offset}`;
  const { dirs, files } = await listSorted(sourceDir);
  if (dirs.length) await run('mmd', ['-i', target, ...dirs.map((d) => `::/${d}`)], { env });
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const dir = f.includes('/') ? f.slice(0, f.lastIndexOf('/')) : '';
    byDir.set(dir, [...(byDir.get(dir) ?? []), f]);
  }
  for (const [dir, list] of byDir) {
    await run('mcopy', ['-m', '-i', target, ...list.map((f) => join(sourceDir, f)), `::/${dir}${dir ? '/' : ''}`], { env });
  }
}

/** Directories (parents first) and regular files under `root`, sorted by byte order of the path. */
async function listSorted(root: string): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [];
  const files: string[] = [];
  const walk = async (rel: string) => {
    const names = (await readdir(join(root, rel))).sort(byBytes);
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, r));
      if (st.isDirectory()) {
        dirs.push(r);
        await walk(r);
      } else if (st.isFile()) files.push(r);
      else throw new IbError(`${r}: FAT can only hold regular files and directories`);
    }
  };
  await walk('');
  return { dirs, files };
}

export function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
