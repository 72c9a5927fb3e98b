/** The OSTREE_GRUB2_EXEC program's contract with libostree, short of running it (e2e does). */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { emptyGrubenv } from './deploy.js';
import { generateGrubCfg, grubHeader, prepareRootCache, writeGrubExecShim } from './grub-exec.js';

const dir = mkdtempSync(join(tmpdir(), 'ib-ostree-grub-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('anything but "-o SYSROOT/boot/loader.N/grub.cfg" is a usage error', async () => {
  await expect(generateGrubCfg(['--version'], {})).rejects.toMatchObject({ message: 'expected "-o FILE" (as libostree passes it), got: --version', exitCode: 2 });
  await expect(generateGrubCfg(['-o', '/boot/grub/grub.cfg'], {})).rejects.toMatchObject({ message: '/boot/grub/grub.cfg is not SYSROOT/boot/loader.N/grub.cfg' });
  await expect(generateGrubCfg(['-o', '/s/boot/loader.1/grub.cfg'], {})).rejects.toMatchObject({ message: 'IB_OSTREE_BOOT_UUID is not set' });
});

test('header: grubenv and next_entry (grub-reboot), serial console, timeout', () => {
  const h = grubHeader({ timeout: 7, serial: true });
  expect(h).toContain('  load_env\n');
  expect(h).toContain('   set default="${next_entry}"\n');
  expect(h).toContain('serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n');
  expect(h).toContain('    set timeout=7\n');
  expect(prepareRootCache('U-1')).toBe('insmod part_gpt\ninsmod ext2\nsearch --no-floppy --fs-uuid --set=root U-1');
});

test('the shim passes libostree\'s arguments through, quoting the command', () => {
  const shim = (async () => writeGrubExecShim(join(dir, 'bin'), ['/bin/echo', "it's", '__ostree-grub2-exec']))();
  return shim.then((p) => {
    expect(statSync(p).mode & 0o777).toBe(0o755);
    expect(p.endsWith('/usr/sbin/grub-mkconfig')).toBe(false);
    expect(execFileSync(p, ['-o', '/s/boot/loader.0/grub.cfg'], { encoding: 'utf8' })).toBe("it's __ostree-grub2-exec -o /s/boot/loader.0/grub.cfg\n");
  });
});

test('grubenv is the block grub-editenv creates', () => {
  const f = join(dir, 'grubenv');
  execFileSync('grub-editenv', [f, 'create']);
  expect(readFileSync(f).equals(emptyGrubenv())).toBe(true);
});
