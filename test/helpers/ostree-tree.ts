/**
 * A flattened Debian tree with `layers/platform/ostree.yaml` applied (ostree, ostree-boot, dracut,
 * grub2-common, the dracut and GRUB defaults), for the ostree tests. Made once from `baseTree()`
 * and cached under the test cache dir.
 * TODO(lead): replace with an ib-built image of a recipe that uses layers/platform/ostree.yaml.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parse } from 'yaml';
import { run } from '../../src/exec/run.js';
import { LayerFile } from '../../src/recipe/schema.js';
import { baseTree } from './base-tree.js';
import { testCacheDir } from './cache.js';
import { removeTree } from '../../src/exec/remove.js';


const FRAGMENT = join(import.meta.dirname, '../../layers/platform/ostree.yaml');

/** Mounts for a chroot, then the command; `$1` is the tree, `$2` the apt archive cache. */
const IN_TREE = [
  'set -e',
  'mount -t proc proc "$1/proc"',
  'mount --bind /dev "$1/dev"',
  'mount -t devpts -o newinstance,ptmxmode=0666 devpts "$1/dev/pts"',
  'mount --bind "$1/dev/pts/ptmx" "$1/dev/ptmx"',
  'touch "$1/etc/resolv.conf"; mount --bind /etc/resolv.conf "$1/etc/resolv.conf"',
  'mount --bind "$2" "$1/var/cache/apt/archives"',
  'printf "#!/bin/sh\\nexit 101\\n" > "$1/usr/sbin/policy-rc.d"; chmod 755 "$1/usr/sbin/policy-rc.d"',
  'chroot "$1" /bin/sh -c "$3"',
  'rm -f "$1/usr/sbin/policy-rc.d"',
].join('\n');

export async function ostreeTree(): Promise<string> {
  const base = await baseTree();
  // Keyed by the base tree (itself keyed by the base image's digest): a new base, a new tree.
  const dir = testCacheDir('trees', `ostree-${basename(base)}`);
  if (existsSync(join(dir, 'usr/lib/dracut/modules.d/98ostree'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await run('cp', ['-a', base, tmp]);
  const layer = LayerFile.parse(parse(await readFile(FRAGMENT, 'utf8')));
  for (const f of layer.files) {
    const p = join(tmp, f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.content ?? '');
    if (f.mode !== undefined) await chmod(p, typeof f.mode === 'number' ? f.mode : parseInt(f.mode, 8));
  }
  const script = [
    'set -e',
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get update -q',
    `apt-get install -y -q --no-install-recommends ${(layer.packages?.install ?? []).join(' ')}`,
    ...layer.run,
  ].join('\n');
  await run('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', IN_TREE, 'sh', tmp, testCacheDir('apt-archives'), script], {
    env: { SOURCE_DATE_EPOCH: '1700000000' },
  });
  await rm(join(tmp, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(join(tmp, 'var/lib/apt/lists/partial'), { recursive: true });
  await writeFile(join(tmp, 'etc/resolv.conf'), '');
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
  return dir;
}

/** Prepare the ostree tree into `work/prepared` and commit it to `work/<mode>` as `branch`. */
export async function ostreeTestCommit(work: string, opts: { mode?: 'archive' | 'bare-user'; branch?: string; version?: string } = {}): Promise<{ repo: string; branch: string; commit: string; prepared: string }> {
  const { prepareTree, ostreeCommit } = await import('../../src/ostree/index.js');
  const prepared = join(work, 'prepared');
  if (!existsSync(join(prepared, 'usr/etc'))) await prepareTree(await ostreeTree(), prepared, { sourceDateEpoch: 1700000000 });
  const mode = opts.mode ?? 'bare-user';
  const repo = join(work, mode);
  const branch = opts.branch ?? 'debian/12/x86_64';
  const commit = await ostreeCommit({
    tree: prepared, repo, branch, mode, subject: 'ib test commit', version: opts.version ?? '12.20231114.0', sourceDateEpoch: 1700000000,
  });
  return { repo, branch, commit, prepared };
}

/** Remove a directory holding ostree deployments (libostree marks them immutable). */
export const removeSysroot = removeTree;
