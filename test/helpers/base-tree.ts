/**
 * A flattened Debian tree with a kernel, for tests of the parts that take a tree (disk,
 * bootloader, iso, ostree). Made once and cached under the test cache dir.
 * TODO(lead): switch to `ib build recipes/debian-minimal.yaml` + flatten once build lands, so
 * the tests exercise ib's own tree.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { testCacheDir } from './cache.js';

const INCLUDE = 'systemd-sysv,linux-image-amd64,initramfs-tools,zstd,udev,passwd,login,e2fsprogs,kmod,ifupdown,iproute2,iputils-ping';

export async function baseTree(): Promise<string> {
  const dir = join(testCacheDir('trees'), 'minimal');
  if (existsSync(join(dir, 'etc/os-release'))) return dir;
  const archives = testCacheDir('apt-archives');
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await run('mmdebstrap', [
    '--mode=root', '--variant=apt', '--format=directory', `--include=${INCLUDE}`, '--skip=essential/unlink',
    '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/', `--setup-hook=sync-in ${archives} /var/cache/apt/archives/`,
    '--essential-hook=mkdir -p "$1/etc/initramfs-tools/conf.d"; echo FSTYPE=ext4 > "$1/etc/initramfs-tools/conf.d/fstype"',
    '--customize-hook=echo root:root | chroot "$1" chpasswd',
    '--customize-hook=: > "$1/etc/resolv.conf"',
    `--customize-hook=sync-out /var/cache/apt/archives ${archives}`,
    'bookworm', tmp, 'http://deb.debian.org/debian',
  ], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  await rename(tmp, dir);
  return dir;
}
