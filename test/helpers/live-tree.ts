/**
 * The minimal base tree plus live-boot (whose initramfs hooks let the kernel boot from a squashfs
 * on a CD), for the ISO tests. Made once from `baseTree()` by a copy and an apt-get install in a
 * private mount namespace, and cached beside it.
 * TODO(lead): replace with `ib derive … --install live-boot` + flatten once derive lands.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run } from '../../src/exec/run.js';
import { baseTree } from './base-tree.js';
import { testCacheDir } from './cache.js';

/** Test-only glue: apt needs proc, dev, a resolver and no service starts, all gone afterwards. */
const APT_IN_TREE = `set -eu
t=$1; archives=$2
mount -t proc proc "$t/proc"
mount --bind /dev "$t/dev"
mount --bind /etc/resolv.conf "$t/etc/resolv.conf"
mount --bind "$archives" "$t/var/cache/apt/archives"
printf '#!/bin/sh\\nexit 101\\n' > "$t/usr/sbin/policy-rc.d"; chmod 755 "$t/usr/sbin/policy-rc.d"
chroot "$t" apt-get update -q
chroot "$t" apt-get install -y -q --no-install-recommends live-boot
rm -f "$t/usr/sbin/policy-rc.d"
find "$t/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
rm -f "$t/var/cache/ldconfig/aux-cache" "$t/var/lib/dpkg/status-old"
`;

export async function liveTree(): Promise<string> {
  const base = await baseTree();
  // Named after the base tree (which is named after its image digest), so a new base means a new live tree.
  const dir = join(testCacheDir('trees'), `live-${basename(base)}`);
  if (existsSync(join(dir, 'usr/share/initramfs-tools/scripts/live'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await run('cp', ['-a', '--reflink=auto', base, tmp]);
  await run('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', APT_IN_TREE, 'apt-in-tree', tmp, testCacheDir('apt-archives')], {
    env: { DEBIAN_FRONTEND: 'noninteractive', SOURCE_DATE_EPOCH: '1700000000' },
  });
  // Two test files may race here: the first rename wins, the other drops its copy.
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return dir;
}
