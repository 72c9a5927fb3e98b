import { describe, expect, it } from 'vitest';
import { embeddedConfig, grubConfig, kernelCmdline, quote, uniqueKargs } from './grub-config.js';

describe('grub config', () => {
  it('embeds a search and a prefix', () => {
    expect(embeddedConfig({ uuid: 'abc' })).toBe('search --no-floppy --fs-uuid --set=root abc\nset prefix=($root)/boot/grub\n');
    expect(embeddedConfig({ label: 'IB LIVE' }, '/grub')).toBe("search --no-floppy --label --set=root 'IB LIVE'\nset prefix=($root)/grub\n");
    expect(embeddedConfig({ file: '/.disk/ib-123' })).toContain('search --no-floppy --file --set=root /.disk/ib-123');
  });

  it('writes a serial-console menu with one entry per kernel', () => {
    const cfg = grubConfig({
      entries: [{ title: "Debian's 12", kernel: '/boot/vmlinuz-6', initrd: '/boot/initrd.img-6', cmdline: 'root=UUID=x ro' }],
    });
    expect(cfg.split('\n')).toEqual([
      '# Written by ib. Regenerated on every build; edit the image instead.',
      'serial --unit=0 --speed=115200',
      'terminal_input serial console',
      'terminal_output serial console',
      'set timeout=1',
      'set default=0',
      '',
      "menuentry 'Debian'\\''s 12' {",
      "\techo 'Loading /boot/vmlinuz-6 ...'",
      '\tlinux /boot/vmlinuz-6 root=UUID=x ro',
      '\tinitrd /boot/initrd.img-6',
      '}',
      '',
    ]);
  });

  it('puts the serial console last so it becomes /dev/console', () => {
    expect(kernelCmdline('UUID=x', ['quiet'])).toBe('root=UUID=x ro console=tty0 console=ttyS0,115200n8 quiet');
    expect(kernelCmdline('LABEL=r', [], { ro: false })).toBe('root=LABEL=r rw console=tty0 console=ttyS0,115200n8');
    // An image whose kargs.d repeats ib's console defaults says each once, in its own order.
    expect(kernelCmdline('UUID=x', ['console=ttyS0,115200n8', 'console=tty0'])).toBe('root=UUID=x ro console=ttyS0,115200n8 console=tty0');
    expect(uniqueKargs(['a', 'b', 'a', 'c', 'b'])).toEqual(['a', 'c', 'b']);
  });

  it('quotes only what needs it', () => {
    expect(quote('/boot/vmlinuz')).toBe('/boot/vmlinuz');
    expect(quote('a b')).toBe("'a b'");
  });
});
