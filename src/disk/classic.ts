/**
 * The classic deploy: the image tree is the root filesystem. ib adds /etc/fstab by UUID, GRUB's
 * grub.cfg and modules under /boot/grub, and the config that grows the root on first boot, all
 * through the staging overlay.
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { emit } from '../log.js';
import { findKernel, kernelCmdline } from '../bootloader/index.js';
import type { Medium, MediumContext } from './medium.js';
import { Stage } from './stage.js';
import { measureTree } from './tree-size.js';

/** The x86-64 root type in systemd-repart's words: it matches the partition ib made. */
const REPART_ROOT = '[Partition]\nType=root-x86-64\n';

export async function classicMedium(ctx: MediumContext): Promise<Medium> {
  const view = await ctx.openView(ctx.tree, 'root');
  // Every read of the tree goes through the view: `root` is the tree, seen without atime updates.
  const root = view.path;
  const kernel = findKernel(root, ctx.tree);
  const measured = await measureTree(root);
  const rootUuid = ctx.ids.rootUuid;
  const cmdline = kernelCmdline(`UUID=${rootUuid}`, ctx.kargs);
  const stage = new Stage(join(ctx.workDir, 'root-stage'), root, ctx.sourceDateEpoch);
  await stage.mkdir('');
  await writeRootAdditions(stage, root, ctx.growRoot, rootUuid);
  return {
    root: { view, stage, measured },
    grub: {
      grubDir: stage.path('boot/grub'),
      search: { uuid: rootUuid },
      prefix: '/boot/grub',
      entries: [{ title: prettyName(root), kernel: kernel.kernel, initrd: kernel.initrd, cmdline }],
    },
    kernel,
    cmdline,
  };
}

async function writeRootAdditions(stage: Stage, root: string, grow: boolean, rootUuid: string): Promise<void> {
  await stage.writeFile('etc/fstab', [
    '# Written by ib: the root filesystem by UUID.' + (grow ? ' It grows to fill the disk on first boot.' : ''),
    `UUID=${rootUuid} / ext4 rw,errors=remount-ro${grow ? ',x-systemd.growfs' : ''} 0 1`,
    '',
  ].join('\n'));
  if (!grow) return;
  // Debian boots with initramfs-tools, so systemd-repart.service (wanted by the initrd's targets)
  // never runs; pulled in by sysinit.target it grows the root partition on the running system,
  // and systemd-growfs@-.service (from x-systemd.growfs, ordered after it) grows ext4 online.
  const unit = ['usr/lib/systemd/system/systemd-repart.service', 'lib/systemd/system/systemd-repart.service']
    .find((u) => lstatSync(join(root, u), { throwIfNoEntry: false })?.isFile());
  if (!unit) {
    emit({ event: 'warning', message: 'the image has no systemd-repart: its root partition will not grow to fill a larger disk' });
    return;
  }
  await stage.writeFile('etc/repart.d/50-ib-root.conf', REPART_ROOT);
  await stage.symlink('etc/systemd/system/sysinit.target.wants/systemd-repart.service', `/${unit}`);
}

/** PRETTY_NAME from the tree's os-release, for the boot menu. */
function prettyName(root: string): string {
  for (const p of ['usr/lib/os-release', 'etc/os-release']) {
    const full = join(root, p);
    if (!lstatSync(full, { throwIfNoEntry: false })?.isFile()) continue;
    const m = /^PRETTY_NAME=(["']?)(.*)\1\s*$/m.exec(readFileSync(full, 'utf8'));
    if (m?.[2]) return m[2];
  }
  return 'Linux';
}
