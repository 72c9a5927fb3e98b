/**
 * The kernel and initramfs of a tree, as ostree wants them: one kernel version in
 * `/usr/lib/modules/$kver/{vmlinuz,initramfs.img}`, and an initramfs that runs
 * ostree-prepare-root (else the booted system's `/` is the raw sysroot and nothing works).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import type { Run } from '../exec/run.js';
import { resolveInRoot, statInRoot } from '../tree/index.js';
import { runInTree } from './chroot.js';

export const OSTREE_FRAGMENT_HINT =
  'add layers/platform/ostree.yaml to the recipe\'s layers (it installs ostree, ostree-boot, dracut and grub2-common)';

/** Compare version strings the way `sort -V` does, close enough for kernel versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export interface KernelFiles {
  version: string;
  /** Relative to the tree. */
  vmlinuz: string;
  initramfs?: string;
  /** Other kernel versions with an image, which the prepared tree will not carry. */
  others: string[];
}

/** Find the newest kernel in a tree, in `/boot` (Debian) or `/usr/lib/modules` (already moved). */
export async function findKernel(tree: string): Promise<KernelFiles> {
  const isFile = async (p: string) => (await statInRoot(tree, p))?.isFile() ?? false;
  const modules = await resolveInRoot(tree, 'usr/lib/modules');
  const versions = existsSync(modules) ? (await readdir(modules)).sort() : [];
  const found: { version: string; vmlinuz: string; initramfs?: string }[] = [];
  for (const v of versions) {
    const vmlinuz = [`usr/lib/modules/${v}/vmlinuz`, `boot/vmlinuz-${v}`];
    const initramfs = [`usr/lib/modules/${v}/initramfs.img`, `boot/initrd.img-${v}`];
    const k = (await isFile(vmlinuz[0]!)) ? vmlinuz[0] : (await isFile(vmlinuz[1]!)) ? vmlinuz[1] : undefined;
    if (!k) continue;
    const i = (await isFile(initramfs[0]!)) ? initramfs[0] : (await isFile(initramfs[1]!)) ? initramfs[1] : undefined;
    found.push({ version: v, vmlinuz: k, initramfs: i });
  }
  const withImage = found.sort((a, b) => compareVersions(b.version, a.version));
  const newest = withImage[0];
  if (!newest) {
    throw new IbError(`no kernel in ${tree}: neither /boot/vmlinuz-* nor /usr/lib/modules/*/vmlinuz`, {
      hint: 'install a kernel in the image: add linux-image-amd64 to the recipe\'s packages.install',
    });
  }
  return { ...newest, others: withImage.slice(1).map((k) => k.version) };
}

/** ostree-boot's dracut module and the binary it puts in the initramfs. */
export async function checkOstreeBoot(tree: string): Promise<void> {
  const missing: string[] = [];
  for (const p of ['usr/lib/ostree/ostree-prepare-root', 'usr/lib/dracut/modules.d/98ostree/module-setup.sh']) {
    if (!(await statInRoot(tree, p))?.isFile()) missing.push(p);
  }
  if (missing.length > 0) {
    throw new IbError(`${tree} lacks ostree-boot (no /${missing.join(', no /')})`, { hint: OSTREE_FRAGMENT_HINT });
  }
}

/** Does the initramfs contain ostree-prepare-root? Asked of the tree's own lsinitrd (dracut). */
export async function initramfsHasOstree(tree: string, initramfs: string, run?: Run): Promise<boolean> {
  if (!existsSync(join(tree, 'usr/bin/lsinitrd'))) return false;
  const r = await runInTree(tree, ['lsinitrd', `/${initramfs}`], { run, allowFailure: true });
  return r.exitCode === 0 && /usr\/lib\/ostree\/ostree-prepare-root$/m.test(r.stdout);
}

/**
 * The exact dracut call of layers/platform/ostree.yaml (dracut records its arguments inside the
 * image, so the same flags give the same bytes whether the build or prepareTree ran it).
 * Rebuild the initramfs generic (`--no-hostonly`: it boots on other machines than the build
 * host) with the ostree module, reproducibly (file times from SOURCE_DATE_EPOCH, sorted cpio).
 */
export async function regenerateInitramfs(
  tree: string,
  version: string,
  output: string,
  opts: { sourceDateEpoch: number; run?: Run },
): Promise<void> {
  if (!existsSync(join(tree, 'usr/bin/dracut'))) {
    throw new IbError(`${tree} has no dracut, needed to build an initramfs with ostree-prepare-root`, { hint: OSTREE_FRAGMENT_HINT });
  }
  await runInTree(
    tree,
    ['dracut', '--force', '--reproducible', '--no-hostonly', '--add', 'ostree', '--kver', version, `/${output}`],
    { run: opts.run, env: { SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch) } },
  );
}
