import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLabel, liveBootSupport, mksquashfsArgs, parseCompression, xorrisoArgs } from './index.js';
import { parseProgress } from './squashfs.js';

describe('mksquashfsArgs', () => {
  it('fixes the creation time and keeps the excludes last (-e eats the rest of the line)', () => {
    expect(mksquashfsArgs('/v', '/o/fs.squashfs', 'zstd', 1700000000)).toEqual([
      '/v', '/o/fs.squashfs', '-noappend', '-comp', 'zstd', '-mkfs-time', '1700000000', '-quiet',
      '-wildcards', '-e', 'boot/*', 'proc/*', 'sys/*', 'dev/*', 'run/*', 'tmp/*',
    ]);
  });
  it('reads the progress bar', () => {
    expect(parseProgress('\r[==      ] 10/1951   0%\r[=====   ] 980/1951  50%')).toEqual({ done: 980, total: 1951, percent: 50 });
    expect(parseProgress('Parallel mksquashfs')).toBeUndefined();
  });
  it('knows its compressions', () => {
    expect(parseCompression('xz')).toBe('xz');
    expect(() => parseCompression('lz4')).toThrow('unsupported squashfs compression "lz4", valid values are zstd, xz');
  });
});

describe('xorrisoArgs', () => {
  it('is the hybrid BIOS/UEFI command proven by hand', () => {
    const a = xorrisoArgs({ stage: '/s', output: '/o.iso', label: 'L', biosImage: 'boot/grub/bios.img', efiImage: '/w/efiboot.img' });
    expect(a.join(' ')).toBe(
      '-as mkisofs -iso-level 3 -full-iso9660-filenames -joliet -rational-rock -volid L -o /o.iso ' +
        '--grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img -partition_offset 16 -appended_part_as_gpt ' +
        '-append_partition 2 C12A7328-F81F-11D2-BA4B-00A0C93EC93B /w/efiboot.img ' +
        '-iso_mbr_part_type EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 -c boot/boot.cat -b boot/grub/bios.img ' +
        '-no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info -eltorito-alt-boot ' +
        '-e --interval:appended_partition_2::: -no-emul-boot /s',
    );
  });
});

describe('checkLabel', () => {
  it('accepts ISO 9660 d-characters only', () => {
    expect(checkLabel('ACME_LIVE_1')).toBe('ACME_LIVE_1');
    expect(() => checkLabel('acme')).toThrow('invalid ISO label "acme"');
    expect(() => checkLabel('A'.repeat(33))).toThrow('invalid ISO label');
  });
});

describe('liveBootSupport', () => {
  const tree = (files: string[]) => {
    const t = mkdtempSync(join(tmpdir(), 'ib-live-test-'));
    for (const f of files) {
      mkdirSync(join(t, f, '..'), { recursive: true });
      writeFileSync(join(t, f), '');
    }
    return t;
  };
  it('finds live-boot and selects it with boot=live', () => {
    expect(liveBootSupport(tree(['usr/share/initramfs-tools/scripts/live']))).toEqual({ kind: 'live-boot', kargs: ['boot=live'] });
  });
  it('names dracut live trees as unsupported rather than missing', () => {
    const t = tree(['usr/lib/dracut/modules.d/90dmsquash-live/module-setup.sh']);
    expect(() => liveBootSupport(t, 'img')).toThrow("img has dracut's dmsquash-live, which ib does not drive yet; a live ISO needs Debian's live-boot");
  });
});
