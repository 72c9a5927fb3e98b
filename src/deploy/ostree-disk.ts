/**
 * `ib disk REF --ostree`: the image's ostree commit (imported from an ostree-native container, or
 * committed from a plain image) deployed into a fresh sysroot the way bootc/rpm-ostree systems
 * are (libostree's grub2 integration, a separate /boot), then assembled as a disk. The sysroot's
 * grub.cfg is made by ib itself: libostree runs `ib __ostree-grub2-exec -o FILE`.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { cachePaths, resolveBase } from '../build/index.js';
import { CONSOLE_KARGS } from '../bootloader/index.js';
import type { BuildDiskResult } from '../disk/index.js';
import { removeTree } from '../exec/remove.js';
import { phase } from '../log.js';
import { readImage, Store } from '../oci/index.js';
import { ibEntry } from '../tree/index.js';
import type { ImageTreeOptions } from './image-tree.js';
import { commitImage, defaultBranch } from './ostree-outputs.js';

export interface OstreeDiskOptions extends ImageTreeOptions {
  output: string;
  format?: string;
  size?: string;
  boot?: ('bios' | 'uefi')[];
  kargs?: string[];
  osName?: string;
}

/**
 * The image's ostree commit in ib's repo: imported from an ostree-native container, or committed
 * from a plain image (both cached: the same image gives the same commit).
 */
export async function ostreeCommitOfImage(ref: string, o: ImageTreeOptions) {
  const { importContainer } = await import('../ostree/import.js');
  const paths = cachePaths(undefined, o.store);
  const store = await Store.open(paths.store);
  const base = await resolveBase(store, ref, o);
  const repo = join(paths.root, 'ostree', 'repo');
  let branch: string;
  if (base.config.config?.Labels?.['ostree.commit']) {
    branch = `ib/deploy/${base.manifestDigest.slice(7, 19)}`;
    const image = await readImage(store, base.manifestDigest);
    await phase('importing the ostree commit', () => importContainer({ store, image, repo, branch, scratch: paths.tmp }));
  } else {
    branch = defaultBranch(ref);
    if (!(await committedBefore(repo, branch, base.manifestDigest))) await commitImage(ref, { repo, branch }, o);
  }
  return { repo, branch, base, paths };
}

/** Whether `branch` already holds a commit of this very image (ib records its digest in the commit). */
async function committedBefore(repo: string, branch: string, manifestDigest: string): Promise<boolean> {
  const { OstreeRepo, metaString } = await import('../ostree/index.js');
  try {
    const r = await OstreeRepo.open(repo);
    return metaString(await r.readCommit(await r.resolveRev(branch)), 'ib.image.digest') === manifestDigest;
  } catch {
    return false;
  }
}

export async function buildOstreeDiskFromImage(ref: string, o: OstreeDiskOptions): Promise<BuildDiskResult> {
  const { deploySysroot, writeGrubExecShim } = await import('../ostree/index.js');
  const { buildDisk, diskIdentifiers } = await import('../disk/index.js');
  const { repo, branch, base, paths } = await ostreeCommitOfImage(ref, o);
  const seed = `${base.ref}@${base.manifestDigest}`;
  const ids = diskIdentifiers(seed);
  const work = await mkdtemp(join(paths.tmp, `ostree-disk-${process.pid}-`));
  try {
    const shim = await writeGrubExecShim(join(work, 'bin'), [process.execPath, ibEntry(), '__ostree-grub2-exec', '--']);
    const sysroot = join(work, 'sysroot');
    await phase('deploying to a sysroot', () => deploySysroot({
      repo, ref: branch, sysroot, osName: o.osName ?? 'debian', kargs: [...CONSOLE_KARGS, ...(o.kargs ?? [])],
      rootUuid: ids.rootUuid, bootUuid: ids.bootUuid, grub2Exec: shim,
    }));
    const created = base.config.created ? Math.floor(Date.parse(base.config.created) / 1000) : 0;
    return await buildDisk({ tree: sysroot, deploy: 'ostree', output: o.output, format: o.format, size: o.size, boot: o.boot, seed, sourceDateEpoch: created });
  } finally {
    await removeTree(work).catch(() => undefined);
  }
}
