/**
 * What a tree needs to boot live from a squashfs on a CD: Debian's live-boot puts `scripts/live`
 * into the initramfs (with squashfs, overlay, isofs, sr_mod), found via `boot=live`.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { IbError } from '../errors.js';

export interface LiveBootSupport {
  kind: 'live-boot';
  /** Kernel arguments that select it. */
  kargs: string[];
}

const LIVE_BOOT_MARKERS = ['usr/share/initramfs-tools/scripts/live', 'usr/lib/live/boot', 'lib/live/boot'];
const DRACUT_LIVE = ['usr/lib/dracut/modules.d/90dmsquash-live', 'lib/dracut/modules.d/90dmsquash-live'];

const exists = (root: string, p: string) => lstatSync(join(root, p), { throwIfNoEntry: false }) !== undefined;

/** `root` is where to look (maybe a view); `label` how to name the tree in errors. */
export function liveBootSupport(root: string, label = root): LiveBootSupport {
  if (LIVE_BOOT_MARKERS.some((p) => exists(root, p))) return { kind: 'live-boot', kargs: ['boot=live'] };
  const dracut = DRACUT_LIVE.some((p) => exists(root, p));
  throw new IbError(
    dracut
      ? `${label} has dracut's dmsquash-live, which ib does not drive yet; a live ISO needs Debian's live-boot`
      : `${label} has no live-boot: a live ISO needs an initramfs that can find and mount the squashfs`,
    { hint: 'install live-boot in the image (apt-get install live-boot rebuilds the initramfs), or let `ib iso` add it as a derived layer' },
  );
}
