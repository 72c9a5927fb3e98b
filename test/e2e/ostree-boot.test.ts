/**
 * The proof: a commit deployed by deploySysroot onto a disk (separate /boot, libostree's grub2
 * backend, the grub.cfg written through ib's OSTREE_GRUB2_EXEC program) boots in QEMU, with
 * ostree-prepare-root in the initramfs and prepareTree's /var layout recreated at first boot.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { writeGrubExecShim } from '../../src/ostree/index.js';
import { bootImage } from '../../src/vm/index.js';
import { buildOstreeDisk, type OstreeDisk } from '../helpers/ostree-disk.js';
import { ostreeTestCommit, removeSysroot } from '../helpers/ostree-tree.js';

const ROOT = join(import.meta.dirname, '../..');
let work: string;
let disk: OstreeDisk;
let commit: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-ostree-boot-'));
  const src = await ostreeTestCommit(work);
  commit = src.commit;
  const shim = await writeGrubExecShim(join(work, 'bin'), [join(ROOT, 'node_modules/.bin/vite-node'), join(ROOT, 'test/helpers/ostree-grub2-exec.ts')]);
  disk = await buildOstreeDisk({ repo: src.repo, ref: src.branch, work, grub2Exec: shim, seed: 'ib-ostree-boot-test', sourceDateEpoch: 1700000000 });
}, 1_800_000);

afterAll(async () => {
  if (work && !process.env.IB_KEEP) await removeSysroot(work);
});

test.each(['bios', 'uefi'] as const)('the deployed commit boots (%s) into its ostree deployment', async (firmware) => {
  const r = await bootImage({
    image: disk.raw, firmware, timeoutSec: 600, execTimeoutSec: 120,
    exec: [
      'cat /proc/cmdline',
      'test -e /run/ostree-booted && echo OSTREE-BOOTED',
      'ostree admin status',
      'readlink /var/lib/dpkg',
      'test -f /var/roothome/.bashrc && echo ROOTHOME-OK',
      'dpkg-query -W -f=\'${Package}\\n\' ostree-boot',
      'findmnt -n -o FSTYPE,SOURCE /boot',
    ].join('\n'),
  });
  const out = r.execOutput ?? '';
  // The image's own kernel arguments (bootc kargs.d, from the recipe's serial-console layer).
  expect(out).toContain(`root=UUID=${disk.rootUuid} rw console=tty0 console=ttyS0,115200n8 ostree=/ostree/boot.1/debian/`);
  expect(out).toContain('OSTREE-BOOTED');
  expect(out).toMatch(new RegExp(`\\* debian ${commit}\\.0`));
  expect(out).toContain('../../usr/lib/sysimage/dpkg');
  expect(out).toContain('ROOTHOME-OK');
  expect(out).toMatch(/^ostree-boot$/m);
  expect(out).toMatch(/^ext4 /m);
  expect(r.exec?.exitCode).toBe(0);
  console.log(`${firmware}: login after ${r.seconds.toFixed(0)}s`);
}, 900_000);
