/**
 * `ib disk NEWREF --ostree --update DISK`: deploy a newer image onto an ostree disk offline, as
 * `bootc upgrade`/`ostree admin upgrade` would on the running system. The disk (any format) is
 * read into a raw scratch copy; its root and /boot filesystems are loop-mounted in a private mount
 * namespace (never in the host's mount table, torn down with ib), the new commit is pulled and
 * deployed as the default with the previous one kept as the rollback, libostree regenerates
 * grub.cfg through ib, and the result replaces DISK (or goes to -o) via a temp name and rename.
 * The ESP and the BIOS core image stay as they are: both find grub.cfg on /boot by its UUID.
 */
import { mkdir, mkdtemp, open as openFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { IbError } from '../errors.js';
import { MountNamespace } from '../exec/mount-ns.js';
import { run } from '../exec/run.js';
import { emit, phase } from '../log.js';
import { ibEntry } from '../tree/index.js';
import type { ImageTreeOptions } from './image-tree.js';
import { ostreeCommitOfImage } from './ostree-disk.js';

export interface OstreeUpdateOptions extends ImageTreeOptions {
  /** Where the updated disk goes; default: DISK itself (replaced atomically). */
  output?: string;
  osName?: string;
}

export interface OstreeUpdateResult {
  output: string;
  commit: string;
  /** The commit was already the default deployment: nothing was written. */
  unchanged: boolean;
  seconds: number;
}

/** An ext4 filesystem's UUID from its superblock (1024 bytes in, s_uuid at 0x68). */
async function ext4Uuid(file: string, offset: number): Promise<string> {
  const f = await openFile(file, 'r');
  try {
    const sb = Buffer.alloc(1024);
    await f.read(sb, 0, sb.length, offset + 1024);
    if (sb.readUInt16LE(0x38) !== 0xef53) throw new IbError(`${file}: no ext4 filesystem at byte ${offset}`);
    const x = sb.subarray(0x68, 0x78).toString('hex');
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  } finally {
    await f.close();
  }
}

export async function updateOstreeDisk(diskPath: string, ref: string, o: OstreeUpdateOptions): Promise<OstreeUpdateResult> {
  const { imageInfo, readPartitionTable, convertRaw, FORMATS, PART_TYPE, SECTOR } = await import('../disk/index.js');
  const { cachePaths } = await import('../build/index.js');
  const { upgradeSysroot, writeGrubExecShim } = await import('../ostree/index.js');
  const t0 = performance.now();
  const disk = resolve(diskPath);
  const output = resolve(o.output ?? disk);
  const info = await imageInfo(disk).catch((e: unknown) => {
    throw new IbError(`cannot read the disk ${disk}`, { cause: e, hint: 'give the path of a disk made by ib disk --ostree' });
  });
  const format = (Object.keys(FORMATS) as (keyof typeof FORMATS)[]).find((f) => FORMATS[f].qemu === info.format);
  if (!format) throw new IbError(`${disk}: qemu-img says its format is ${info.format}; ib updates ${Object.keys(FORMATS).join(', ')} disks`);

  const paths = cachePaths(undefined, o.store);
  const work = await mkdtemp(join(paths.tmp, `ostree-update-${process.pid}-`));
  try {
    const raw = join(work, 'disk.raw');
    await phase('reading the disk', () => run('qemu-img', ['convert', '-f', info.format, '-O', 'raw', disk, raw]));
    const parts = (await readPartitionTable(raw)).partitiontable.partitions;
    const find = (type: string) => parts.find((p) => p.type.toUpperCase() === type);
    const root = find(PART_TYPE.root);
    const boot = find(PART_TYPE.xbootldr);
    if (!root || !boot) {
      throw new IbError(`${disk} is not an ostree disk: it has no ${root ? 'XBOOTLDR /boot' : 'root'} partition`, {
        hint: 'make it with ib disk REF --ostree, then update it with ib disk NEWREF --ostree --update DISK',
      });
    }
    const bootUuid = await ext4Uuid(raw, boot.start * SECTOR);
    // Only now the image: a wrong disk is refused before the commit work.
    const { repo, branch } = await ostreeCommitOfImage(ref, o);
    const ns = await MountNamespace.open();
    let result: { commit: string; unchanged: boolean };
    try {
      const S = join(work, 'sysroot');
      await mkdir(S);
      const loop = (p: { start: number; size: number }) => `loop,noatime,offset=${p.start * SECTOR},sizelimit=${p.size * SECTOR}`;
      await ns.exec('mount', ['-t', 'ext4', '-o', loop(root), raw, S]);
      await ns.exec('mount', ['-t', 'ext4', '-o', loop(boot), raw, join(S, 'boot')]);
      const shim = await writeGrubExecShim(join(work, 'bin'), [process.execPath, ibEntry(), '__ostree-grub2-exec', '--']);
      const osName = o.osName ?? 'debian';
      result = await phase('deploying the new commit', () => upgradeSysroot({ repo, ref: branch, sysroot: ns.outside(S), osName, bootUuid, grub2Exec: shim }));
      // Unmount explicitly: a clean unmount writes the superblocks back before the copy is read.
      await ns.exec('umount', [join(S, 'boot')]);
      await ns.exec('umount', [S]);
    } catch (e) {
      if (/No space left on device/i.test(String((e as { stderr?: string }).stderr ?? e))) {
        throw new IbError(`${disk}: its filesystems have no room for ${ref}`, { cause: e, hint: 'make the disk again with a larger --size, or from the new image' });
      }
      throw e;
    } finally {
      await ns.close();
    }
    if (result.unchanged) {
      emit({ event: 'info', message: `${disk} already boots ${result.commit} by default; nothing to update` });
      return { output: disk, commit: result.commit, unchanged: true, seconds: (performance.now() - t0) / 1000 };
    }
    // A VMDK names its own file inside: convert to the final name in a temp dir beside it, then move.
    const tmpDir = join(dirname(output), `.${basename(output)}.ib-${process.pid}.d`);
    try {
      await mkdir(tmpDir);
      const converted = join(tmpDir, basename(output));
      await phase(`writing ${format}`, () => convertRaw(raw, converted, format));
      await rename(converted, output);
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
    emit({ event: 'info', message: `${output} boots ${result.commit} (${ref}) by default; the previous deployment is the second menu entry` });
    return { output, commit: result.commit, unchanged: false, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}
