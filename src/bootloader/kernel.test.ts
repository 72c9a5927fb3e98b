import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareVersions, findKernel, listKernels } from './kernel.js';

function x86Kernel(): Buffer {
  const b = Buffer.alloc(0x400);
  b.write('HdrS', 0x202, 'latin1');
  return b;
}

function tree(files: Record<string, Buffer | string>): string {
  const root = mkdtempSync(join(tmpdir(), 'ib-kernel-test-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), c);
  }
  return root;
}

describe('findKernel', () => {
  it('finds the newest Debian kernel with its initrd', () => {
    const t = tree({
      'boot/vmlinuz-6.1.0-9-amd64': x86Kernel(), 'boot/initrd.img-6.1.0-9-amd64': 'i',
      'boot/vmlinuz-6.1.0-50-amd64': x86Kernel(), 'boot/initrd.img-6.1.0-50-amd64': 'i',
    });
    expect(findKernel(t)).toEqual({ version: '6.1.0-50-amd64', kernel: '/boot/vmlinuz-6.1.0-50-amd64', initrd: '/boot/initrd.img-6.1.0-50-amd64' });
    expect(listKernels(t).map((k) => k.version)).toEqual(['6.1.0-50-amd64', '6.1.0-9-amd64']);
  });

  it('finds kernels under /usr/lib/modules (ostree, UKI-style trees)', () => {
    const t = tree({ 'usr/lib/modules/6.5.0/vmlinuz': x86Kernel(), 'usr/lib/modules/6.5.0/initramfs.img': 'i' });
    expect(findKernel(t)).toEqual({ version: '6.5.0', kernel: '/usr/lib/modules/6.5.0/vmlinuz', initrd: '/usr/lib/modules/6.5.0/initramfs.img' });
  });

  it('says so when there is no kernel', () => {
    const t = tree({ 'etc/os-release': 'ID=debian\n' });
    expect(() => findKernel(t)).toThrow(`no kernel found in ${t} (looked for /boot/vmlinuz-* and /usr/lib/modules/*/vmlinuz)`);
  });

  it('says so when the kernel has no initramfs', () => {
    const t = tree({ 'boot/vmlinuz-6.1': x86Kernel() });
    expect(() => findKernel(t)).toThrow('the kernel /boot/vmlinuz-6.1 has no initramfs beside it');
  });

  it('refuses a kernel of another architecture', () => {
    const arm = Buffer.alloc(0x400);
    arm.write('ARM\x64', 0x38, 'latin1');
    const t = tree({ 'boot/vmlinuz-6.1-arm64': arm, 'boot/initrd.img-6.1-arm64': 'i' });
    expect(() => findKernel(t)).toThrow('the kernel /boot/vmlinuz-6.1-arm64 is an arm64 kernel; ib makes x86-64 media');
  });
});

describe('compareVersions', () => {
  it('compares numbers as numbers', () => {
    expect(compareVersions('6.1.0-9', '6.1.0-50')).toBeLessThan(0);
    expect(compareVersions('6.10', '6.9')).toBeGreaterThan(0);
    expect(compareVersions('5.4', '5.4')).toBe(0);
  });
});
