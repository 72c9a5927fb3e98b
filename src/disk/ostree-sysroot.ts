/**
 * The ostree deploy: the tree is a sysroot made by `ostree admin deploy` with the disk's UUIDs
 * (`diskIdentifiers(seed)`, known before the disk exists). Its /boot becomes a separate ext4
 * (XBOOTLDR) holding the kernels, BLS entries and libostree's own grub.cfg, which libostree
 * regenerates on every deploy in the guest; ib adds only GRUB's modules there. The root
 * filesystem is the sysroot with /boot left as an empty mount point.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { writeXattrs } from '../exec/xattr.js';
import type { Medium, MediumContext } from './medium.js';
import { Stage } from './stage.js';
import { measureTree } from './tree-size.js';

/** overlayfs stops looking into lower layers at a directory with this xattr. */
const OPAQUE = 'trusted.overlay.opaque';

export async function ostreeMedium(ctx: MediumContext): Promise<Medium> {
  const rootView = await ctx.openView(ctx.tree, 'root');
  const S = rootView.path;
  const is = (p: string) => lstatSync(join(S, p), { throwIfNoEntry: false });
  if (!is('ostree/repo')?.isDirectory() || !is('ostree/deploy')?.isDirectory()) {
    throw new IbError(`${ctx.tree} is not an ostree sysroot (no ostree/repo and ostree/deploy)`, {
      hint: 'deploy the commit first (ostree admin deploy), with the UUIDs from diskIdentifiers(seed)',
    });
  }
  if (!is('boot/loader/entries')?.isDirectory()) {
    throw new IbError(`${ctx.tree} has no boot/loader/entries: nothing is deployed in it`, { hint: 'run ostree admin deploy into it first' });
  }
  if (!is('boot/grub/grub.cfg')) {
    throw new IbError(`${ctx.tree} has no boot/grub/grub.cfg`, {
      hint: 'deploy with sysroot.bootloader=grub2 so libostree writes it (boot/grub/grub.cfg -> ../loader/grub.cfg)',
    });
  }
  const bootView = await ctx.openView(join(ctx.tree, 'boot'), 'boot');
  const bootMeasured = await measureTree(bootView.path);
  const all = await measureTree(S);

  // The root's /boot: an empty mount point, hiding the sysroot's boot/ (which is the boot fs).
  const rootStage = new Stage(join(ctx.workDir, 'root-stage'), S, ctx.sourceDateEpoch);
  await rootStage.mkdir('boot');
  await writeXattrs([{ path: rootStage.path('boot'), xattrs: { [OPAQUE]: Buffer.from('y') } }]);
  const bootStage = new Stage(join(ctx.workDir, 'boot-stage'), bootView.path, ctx.sourceDateEpoch);
  await bootStage.mkdir('grub');
  return {
    root: {
      view: rootView, stage: rootStage,
      measured: { bytes: all.bytes - bootMeasured.bytes, inodes: all.inodes - bootMeasured.inodes },
    },
    boot: { view: bootView, stage: bootStage, measured: bootMeasured },
    grub: { grubDir: bootStage.path('grub'), search: { uuid: ctx.ids.bootUuid }, prefix: '/grub' },
  };
}
