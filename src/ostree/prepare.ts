/**
 * Turn a flattened root tree into the shape `ostree commit` and `ostree admin deploy` expect
 * (what osbuild's ostree.preptree and rpm-ostree do): everything the OS ships lives in /usr,
 * /etc is shipped as /usr/etc (ostree three-way merges it at deploy), /var starts empty and is
 * recreated by tmpfiles.d, and the kernel sits in /usr/lib/modules/$kver. `src` is never touched.
 */
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { emit } from '../log.js';
import { mkdirInRoot, removeInRoot, resolveInRoot, statInRoot, symlinkInRoot, writeFileInRoot } from '../tree/index.js';
import { describeType, walk } from './fswalk.js';
import { checkOstreeBoot, findKernel, initramfsHasOstree, regenerateInitramfs } from './kernel.js';
import { formatTmpfiles, treeToTmpfiles, type TmpfilesLine } from './tmpfiles.js';

export interface PrepareOptions {
  /** `auto` (default) rebuilds the initramfs only when it lacks ostree-prepare-root. */
  initramfs?: 'auto' | 'always' | 'never';
  /** File times inside a regenerated initramfs. */
  sourceDateEpoch: number;
  run?: Run;
}

export interface PreparedTree {
  kernelVersion: string;
  initramfsRegenerated: boolean;
}

/** Top-level directories that live in /var on an ostree system: name → symlink target. */
const INTO_VAR: [from: string, link: string, varDir: string][] = [
  ['home', 'var/home', '/var/home'],
  ['root', 'var/roothome', '/var/roothome'],
  ['opt', 'var/opt', '/var/opt'],
  ['srv', 'var/srv', '/var/srv'],
  ['mnt', 'var/mnt', '/var/mnt'],
  ['usr/local', '../var/usrlocal', '/var/usrlocal'],
];

/** Recreated empty (mode and owner kept from the source): ostree cannot store device nodes. */
const EMPTIED = ['var', 'tmp', 'run', 'dev', 'proc', 'sys', 'boot'];
const DEFAULT_MODES: Record<string, number> = { tmp: 0o1777, proc: 0o555, sys: 0o555 };

export const TMPFILES_STATIC = 'usr/lib/tmpfiles.d/ib-ostree.conf';
export const TMPFILES_AUTOVAR = 'usr/lib/tmpfiles.d/ib-ostree-autovar.conf';

/** Fail before writing anything when the tree holds what ostree cannot store. */
async function checkSpecialFiles(src: string): Promise<void> {
  const bad: string[] = [];
  const skipTop = new Set(['dev', 'proc', 'sys', 'run', 'tmp', 'var', 'boot']);
  await walk(src, (e) => {
    if (!e.rel.includes('/') && skipTop.has(e.rel)) return false;
    const d = e.dirent;
    if (d.isCharacterDevice() || d.isBlockDevice() || d.isFIFO() || d.isSocket()) bad.push(`/${e.rel} (${describeType(d)})`);
  });
  if (bad.length > 0) {
    throw new IbError(
      `${src} holds ${bad.length} device node(s) or other special file(s) that ostree cannot store: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}`,
      { hint: 'remove them in the recipe: an ostree commit holds only regular files, symlinks and directories (/dev is devtmpfs at boot)' },
    );
  }
}

async function mkdirLike(src: string, out: string, name: string, fallbackMode = 0o755): Promise<void> {
  const st = await statInRoot(src, name, { follow: false });
  const dir = st?.isDirectory() ? st : undefined;
  await mkdirInRoot(out, name, { mode: dir ? dir.mode & 0o7777 : fallbackMode, uid: dir?.uid ?? 0, gid: dir?.gid ?? 0 });
}

export async function prepareTree(src: string, out: string, opts: PrepareOptions): Promise<PreparedTree> {
  const run = opts.run ?? defaultRun;
  const isDir = async (root: string, p: string) => (await statInRoot(root, p, { follow: false }))?.isDirectory() ?? false;
  if (!(await isDir(src, 'usr'))) throw new IbError(`${src} is not a root tree (no /usr)`, { hint: 'give the directory of a flattened image' });
  if (await isDir(src, 'usr/etc')) {
    throw new IbError(`${src} is already prepared for ostree (it has /usr/etc)`, { hint: 'commit it directly' });
  }
  if (!(await isDir(src, 'etc'))) throw new IbError(`${src} has no /etc directory`, { hint: 'give the directory of a flattened image' });
  const kernel = await findKernel(src);
  await checkOstreeBoot(src);
  await checkSpecialFiles(src);
  if (existsSync(out) && (await readdir(out)).length > 0) {
    throw new IbError(`${out} already exists and is not empty`, { hint: 'give a new directory for the prepared tree' });
  }
  const rootSt = await lstat(src);
  await mkdir(out, { recursive: true });
  await chmod(out, rootSt.mode & 0o7777);
  await chown(out, rootSt.uid, rootSt.gid);

  // Copy all but what is rebuilt empty or moves into /var: less I/O, and nothing stale left over.
  const skip = new Set([...EMPTIED, 'media', 'sysroot', 'ostree', ...INTO_VAR.map(([f]) => f)]);
  const top = (await readdir(src)).filter((n) => !skip.has(n)).sort();
  if (top.length) await run('cp', ['-a', '--reflink=auto', ...top.map((n) => join(src, n)), out + '/']);
  for (const d of EMPTIED) await mkdirLike(src, out, d, DEFAULT_MODES[d]);
  // dracut keeps its work dir in /var/tmp.
  await mkdirInRoot(out, 'var/tmp', { mode: 0o1777 });

  // Kernel: /usr/lib/modules/$kver/{vmlinuz,initramfs.img}, plus config and System.map beside.
  const kdir = `usr/lib/modules/${kernel.version}`;
  const copyIn = async (rel: string, name: string) => {
    if (rel === `${kdir}/${name}`) return;
    await run('cp', ['-a', '--reflink=auto', await resolveInRoot(src, rel), await resolveInRoot(out, `${kdir}/${name}`)]);
  };
  await copyIn(kernel.vmlinuz, 'vmlinuz');
  for (const [from, name] of [[`boot/config-${kernel.version}`, 'config'], [`boot/System.map-${kernel.version}`, 'System.map']] as const) {
    if ((await statInRoot(src, from))?.isFile() && !(await statInRoot(out, `${kdir}/${name}`))) await copyIn(from, name);
  }
  if (kernel.initramfs) await copyIn(kernel.initramfs, 'initramfs.img');
  for (const other of kernel.others) {
    emit({ event: 'warning', message: `ostree: the image has several kernels; keeping ${kernel.version}, dropping ${other}` });
    await removeInRoot(out, `usr/lib/modules/${other}`, { recursive: true });
  }
  for (const n of await readdir(out)) if (/^(vmlinuz|initrd\.img)(\.old)?$/.test(n)) await removeInRoot(out, n);

  const initramfs = `${kdir}/initramfs.img`;
  let regenerate = opts.initramfs === 'always' || !kernel.initramfs;
  if (!regenerate && opts.initramfs !== 'never') regenerate = !(await initramfsHasOstree(out, initramfs, run));
  if (regenerate && opts.initramfs === 'never') {
    throw new IbError(`the initramfs of ${src} lacks ostree-prepare-root`, { hint: 'let ib rebuild it (initramfs: auto) or rebuild it with dracut --add ostree in the recipe' });
  }
  if (regenerate) await regenerateInitramfs(out, kernel.version, initramfs, { sourceDateEpoch: opts.sourceDateEpoch, run });
  await removeInRoot(out, 'var/tmp', { recursive: true });

  // /etc → /usr/etc, with an empty machine-id: first boot makes a unique one.
  await writeFileInRoot(out, 'etc/machine-id', '');
  await rename(join(out, 'etc'), join(await resolveInRoot(out, 'usr'), 'etc'));

  // dpkg's database → /usr/lib/sysimage/dpkg (it must travel with /usr), linked back at boot.
  const lines: TmpfilesLine[] = [];
  if (await isDir(src, 'var/lib/dpkg')) {
    await mkdirInRoot(out, 'usr/lib/sysimage');
    await run('cp', ['-a', '--reflink=auto', await resolveInRoot(src, 'var/lib/dpkg'), await resolveInRoot(out, 'usr/lib/sysimage/dpkg')]);
    lines.push({ type: 'L', path: '/var/lib/dpkg', target: '../../usr/lib/sysimage/dpkg' });
  }

  // /home /root /opt /srv /mnt /usr/local → symlinks into /var. What they held (root's dotfiles,
  // users' homes with their authorized_keys, files under /opt) is kept in /usr/share/factory and
  // copied into the empty /var at first boot by tmpfiles `C`, instead of being lost.
  for (const [from, link, varDir] of INTO_VAR) {
    const st = await statInRoot(src, from, { follow: false });
    await removeInRoot(out, from, { recursive: true });
    await symlinkInRoot(out, from, link);
    if (st?.isSymbolicLink()) continue;
    if (st?.isDirectory() && (await readdir(await resolveInRoot(src, from))).length > 0) {
      const factory = `usr/share/factory${varDir}`;
      await mkdirInRoot(out, 'usr/share/factory/var');
      await run('cp', ['-a', '--reflink=auto', await resolveInRoot(src, from), await resolveInRoot(out, factory)]);
      lines.push({ type: 'C', path: varDir, source: `/${factory}` });
    } else {
      lines.push({ type: 'd', path: varDir, mode: st?.mode ?? (from === 'root' ? 0o700 : 0o755), uid: st?.uid ?? 0, gid: st?.gid ?? 0 });
    }
  }
  const media = await statInRoot(src, 'media', { follow: false });
  await symlinkInRoot(out, 'media', 'run/media');
  lines.push({ type: 'd', path: '/run/media', mode: media?.isDirectory() ? media.mode : 0o755, uid: 0, gid: 0 });

  // Whatever else /var held: directories and symlinks come back at boot, files do not.
  const autovar = (await isDir(src, 'var')) ? await treeToTmpfiles(join(src, 'var'), '/var', new Set(['lib/dpkg', 'tmp'])) : { lines: [] };
  await writeFileInRoot(out, TMPFILES_STATIC, '# Written by ib: the ostree layout of /var (see `ib ostree`).\n' + formatTmpfiles(lines));
  await writeFileInRoot(out, TMPFILES_AUTOVAR, '# Written by ib: the directories the image had in /var.\n' + formatTmpfiles(autovar.lines));

  // ostree's own mount point and the /ostree link the deployed system expects.
  await mkdirInRoot(out, 'sysroot', { mode: 0o755, uid: 0, gid: 0 });
  await symlinkInRoot(out, 'ostree', 'sysroot/ostree');
  return { kernelVersion: kernel.version, initramfsRegenerated: regenerate };
}
