/**
 * Finding the kernel and initramfs in a root tree: Debian keeps `/boot/vmlinuz-V` +
 * `/boot/initrd.img-V`, Fedora `/boot/initramfs-V.img`, ostree and UKI-style trees
 * `/usr/lib/modules/V/vmlinuz` + `initramfs.img`. The newest version wins.
 */
import { closeSync, constants, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IbError } from '../errors.js';

export interface KernelFiles {
  version: string;
  /** Paths inside the tree, absolute from its root (`/boot/vmlinuz-6.1.0-50-amd64`). */
  kernel: string;
  initrd: string;
}

/** Compare versions number by number as `sort -V` does, so 6.1.0-9 sorts before 6.1.0-50. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    if (i % 2 === 1 && x !== '' && y !== '') return Number(x) - Number(y) || (x < y ? -1 : 1);
    return x < y ? -1 : 1;
  }
  return 0;
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
const list = (p: string) => (existsSync(p) ? readdirSync(p) : []);

/** Every kernel with an initramfs, newest first. */
export function listKernels(tree: string): KernelFiles[] {
  const found = new Map<string, KernelFiles>();
  const missingInitrd: string[] = [];
  for (const name of list(join(tree, 'boot'))) {
    const m = /^vmlinuz-(.+)$/.exec(name);
    if (!m) continue;
    const v = m[1]!;
    const initrd = [`initrd.img-${v}`, `initramfs-${v}.img`].find((n) => isFile(join(tree, 'boot', n)));
    if (initrd) found.set(v, { version: v, kernel: `/boot/${name}`, initrd: `/boot/${initrd}` });
    else missingInitrd.push(`/boot/${name}`);
  }
  for (const base of ['usr/lib/modules', 'lib/modules']) {
    for (const v of list(join(tree, base))) {
      if (found.has(v) || !isFile(join(tree, base, v, 'vmlinuz'))) continue;
      const initrd = ['initramfs.img', 'initrd.img'].find((n) => isFile(join(tree, base, v, n)));
      if (initrd) found.set(v, { version: v, kernel: `/${base}/${v}/vmlinuz`, initrd: `/${base}/${v}/${initrd}` });
      else missingInitrd.push(`/${base}/${v}/vmlinuz`);
    }
  }
  const all = [...found.values()].sort((a, b) => compareVersions(b.version, a.version));
  if (all.length === 0 && missingInitrd.length > 0) {
    throw new IbError(`the kernel ${missingInitrd[0]} has no initramfs beside it`, {
      hint: 'install an initramfs generator in the image (initramfs-tools or dracut on Debian) so the kernel package makes one',
    });
  }
  return all;
}

/**
 * The architecture a kernel image boots on, from its header: x86 bzImages carry "HdrS" at 0x202,
 * arm64 Images "ARM\x64" at 0x38, arm64 EFI zboot images "zimg" at 4.
 */
export function kernelArch(path: string): 'x86' | 'arm64' | 'unknown' {
  const buf = Buffer.alloc(0x210);
  // O_NOATIME: looking at a header is no reason to change the tree (EPERM unless we own it).
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOATIME);
  } catch {
    fd = openSync(path, 'r');
  }
  try {
    readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  if (buf.toString('latin1', 0x202, 0x206) === 'HdrS') return 'x86';
  if (buf.toString('latin1', 0x38, 0x3c) === 'ARM\x64' || buf.toString('latin1', 4, 8) === 'zimg') return 'arm64';
  return 'unknown';
}

/**
 * The newest kernel of the tree, checked to be an x86 kernel (ib makes x86-64 media). `label`
 * names the tree in errors when `tree` is a path the user never saw (a view of it).
 */
export function findKernel(tree: string, label = tree): KernelFiles {
  const k = listKernels(tree)[0];
  if (!k) {
    throw new IbError(`no kernel found in ${label} (looked for /boot/vmlinuz-* and /usr/lib/modules/*/vmlinuz)`, {
      hint: 'install a kernel in the image, e.g. add linux-image-amd64 to the recipe\'s packages',
    });
  }
  const arch = kernelArch(join(tree, k.kernel));
  if (arch !== 'x86') {
    throw new IbError(`the kernel ${k.kernel} is ${arch === 'arm64' ? 'an arm64 kernel' : 'not an x86 kernel'}; ib makes x86-64 media`, {
      hint: 'build or pull the linux/amd64 variant of the image (--platform linux/amd64)',
    });
  }
  return k;
}
