/**
 * Whether this host can mount overlayfs. Where it cannot (kernels built without it, some
 * container sandboxes), `mount -t overlay` fails with "unknown filesystem type 'overlay'" and
 * every build step and export would fail with it; ib then takes the copy-and-scan path instead
 * (materialize.ts + scan-diff.ts), which makes the same layers byte for byte, only slower.
 *
 * `IB_OVERLAY=off` forces the fallback: for users whose kernel lists overlay but cannot use it
 * where their cache lives (an overlay upper dir on overlayfs itself, NFS), and for tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';

/** `/proc/filesystems` lists overlay, or its module is there to be loaded on first mount. */
export function kernelHasOverlay(procFilesystems = '/proc/filesystems', modulesDir = `/lib/modules/${release()}`): boolean {
  let listed = '';
  try {
    listed = readFileSync(procFilesystems, 'utf8');
  } catch {
    return false;
  }
  if (listed.split('\n').some((l) => l.split('\t').at(-1)?.trim() === 'overlay')) return true;
  // The kernel loads the module by itself on the first overlay mount, so a fresh boot that has
  // not mounted one yet does not list it.
  return ['kernel/fs/overlayfs/overlay.ko', 'kernel/fs/overlayfs/overlay.ko.xz', 'kernel/fs/overlayfs/overlay.ko.zst'].some((m) => existsSync(`${modulesDir}/${m}`));
}

export function overlaySupported(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.IB_OVERLAY === 'off') return false;
  return kernelHasOverlay();
}
