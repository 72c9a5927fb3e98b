/**
 * GRUB configuration text: the few lines compiled into an image to find the real config, and the
 * grub.cfg that BIOS and UEFI GRUB both read.
 */

/** How GRUB finds the filesystem holding its config (and, usually, the kernel). */
export type GrubSearch = { uuid: string } | { label: string } | { file: string };

function searchLine(s: GrubSearch, variable = 'root'): string {
  if ('uuid' in s) return `search --no-floppy --fs-uuid --set=${variable} ${s.uuid}`;
  if ('label' in s) return `search --no-floppy --label --set=${variable} ${quote(s.label)}`;
  return `search --no-floppy --file --set=${variable} ${quote(s.file)}`;
}

/** GRUB's shell quoting: single quotes, with `'` written as `'\''`. */
export function quote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The config compiled into core.img / BOOTX64.EFI: find the filesystem, point $prefix at it. */
export function embeddedConfig(search: GrubSearch, prefix = '/boot/grub'): string {
  return `${searchLine(search)}\nset prefix=($root)${prefix}\n`;
}

export interface MenuEntry {
  title: string;
  /** Paths on the filesystem `search` finds. */
  kernel: string;
  initrd: string;
  cmdline: string;
  /** Defaults to the filesystem the embedded config found. */
  search?: GrubSearch;
}

export interface GrubConfigOptions {
  entries: MenuEntry[];
  /** Seconds the menu waits; 0 boots at once. */
  timeout?: number;
  /** Mirror the menu on the first serial port (115200 8N1), where headless VMs and ib boot look. */
  serial?: boolean;
}

export function grubConfig(opts: GrubConfigOptions): string {
  const out: string[] = ['# Written by ib. Regenerated on every build; edit the image instead.'];
  if (opts.serial ?? true) {
    out.push('serial --unit=0 --speed=115200', 'terminal_input serial console', 'terminal_output serial console');
  }
  out.push(`set timeout=${opts.timeout ?? 1}`, 'set default=0', '');
  for (const e of opts.entries) {
    out.push(`menuentry ${quote(e.title)} {`);
    if (e.search) out.push(`\t${searchLine(e.search)}`);
    out.push(`\techo ${quote(`Loading ${e.kernel} ...`)}`);
    out.push(`\tlinux ${quote(e.kernel)} ${e.cmdline}`);
    out.push(`\tinitrd ${quote(e.initrd)}`);
    out.push('}', '');
  }
  return out.join('\n');
}

/** Serial console last, so it becomes /dev/console and systemd starts a getty on it. */
export const CONSOLE_KARGS = ['console=tty0', 'console=ttyS0,115200n8'] as const;

export function kernelCmdline(root: string, extra: readonly string[] = [], opts: { ro?: boolean } = {}): string {
  return uniqueKargs([`root=${root}`, (opts.ro ?? true) ? 'ro' : 'rw', ...CONSOLE_KARGS, ...extra]).join(' ');
}

/**
 * Drop repeats of the very same argument (ib's console defaults, the image's kargs.d and --karg
 * often agree), keeping the last one: order matters for console=, and the later source wins it.
 */
export function uniqueKargs(kargs: readonly string[]): string[] {
  return kargs.filter((k, i) => kargs.lastIndexOf(k) === i);
}
