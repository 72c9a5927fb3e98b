/**
 * The small one-value customizations: hostname, timezone, locale, keyboard, kernel command line.
 * Each writes the files Debian's own tools would (hostnamectl, timedatectl, update-locale,
 * dpkg-reconfigure keyboard-configuration) so the image behaves as if configured by hand.
 */
import { IbError } from '../errors.js';
import { emit } from '../log.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { readFileInRoot, resolveInRoot, statInRoot, symlinkInRoot, writeFileInRoot } from './resolve.js';

async function readText(root: string, path: string): Promise<string | undefined> {
  return (await readFileInRoot(root, path))?.toString('utf8');
}

/** /etc/hostname, and the Debian `127.0.1.1 NAME` line in /etc/hosts so `hostname -f` resolves. */
export async function applyHostname(root: string, hostname: string): Promise<void> {
  await writeFileInRoot(root, '/etc/hostname', `${hostname}\n`, { mode: 0o644, uid: 0, gid: 0 });
  const short = hostname.split('.')[0]!;
  const names = short === hostname ? hostname : `${hostname} ${short}`;
  const hosts = await readText(root, '/etc/hosts');
  if (hosts === undefined) {
    await writeFileInRoot(root, '/etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${names}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`);
    return;
  }
  const lines = hosts.replace(/\n$/, '').split('\n');
  const i = lines.findIndex((l) => /^127\.0\.1\.1\s/.test(l));
  if (i >= 0) lines[i] = `127.0.1.1\t${names}`;
  else lines.splice(lines.findIndex((l) => /^127\.0\.0\.1\s/.test(l)) + 1, 0, `127.0.1.1\t${names}`);
  await writeFileInRoot(root, '/etc/hosts', lines.join('\n') + '\n');
}

/** /etc/localtime → the zone file, and /etc/timezone, as `timedatectl set-timezone` leaves them. */
export async function applyTimezone(root: string, zone: string): Promise<void> {
  const path = `/usr/share/zoneinfo/${zone}`;
  const st = /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(zone) ? await statInRoot(root, path) : undefined;
  if (!st?.isFile()) {
    throw new IbError(`unknown timezone "${zone}": ${path} does not exist in the tree`, {
      hint: 'use a name like Europe/Berlin or Etc/UTC, and install the tzdata package in this or an earlier step',
    });
  }
  await symlinkInRoot(root, '/etc/localtime', path);
  await writeFileInRoot(root, '/etc/timezone', `${zone}\n`, { mode: 0o644, uid: 0, gid: 0 });
}

const BUILTIN_LOCALES = new Set(['C', 'POSIX', 'C.UTF-8', 'C.utf8']);

/**
 * /etc/default/locale (what update-locale writes). If the tree has the locales package, the locale
 * is enabled in /etc/locale.gen and compiled with the tree's locale-gen; without it only the
 * built-in C locales work, which is said as a warning rather than an error.
 */
export async function applyLocale(root: string, locale: string, opts: { run?: Run } = {}): Promise<void> {
  if (!/^[A-Za-z0-9_.@-]+$/.test(locale)) throw new IbError(`invalid locale "${locale}"`, { hint: 'use a name like en_US.UTF-8 or C.UTF-8' });
  await writeFileInRoot(root, '/etc/default/locale', `LANG=${locale}\n`, { mode: 0o644, uid: 0, gid: 0 });
  if (BUILTIN_LOCALES.has(locale)) return;
  const hasLocaleGen = (await statInRoot(root, '/usr/sbin/locale-gen')) !== undefined;
  const supported = await readText(root, '/usr/share/i18n/SUPPORTED');
  if (!hasLocaleGen || supported === undefined) {
    emit({ event: 'warning', message: `locale ${locale} is set but the tree has no locales package: only C.UTF-8 will work (install locales)` });
    return;
  }
  const line = supported.split('\n').find((l) => l.split(/\s+/)[0] === locale);
  if (!line) {
    throw new IbError(`unknown locale "${locale}": not listed in the tree's /usr/share/i18n/SUPPORTED`, {
      hint: 'use a name from that file, like en_US.UTF-8 or de_DE.UTF-8',
    });
  }
  const gen = (await readText(root, '/etc/locale.gen')) ?? '';
  const lines = gen.replace(/\n$/, '').split('\n').filter((l, i, a) => !(l === '' && a.length === 1));
  const i = lines.findIndex((l) => l.replace(/^#\s*/, '').trim() === line.trim());
  if (i >= 0) lines[i] = line.trim();
  else lines.push(line.trim());
  await writeFileInRoot(root, '/etc/locale.gen', lines.join('\n') + '\n');
  await (opts.run ?? defaultRun)('chroot', [await resolveInRoot(root, '/'), 'locale-gen']);
}

/** XKBLAYOUT in /etc/default/keyboard (read by console-setup, X and systemd-localed). */
export async function applyKeyboard(root: string, layout: string): Promise<void> {
  if (!/^[A-Za-z0-9_,()-]+$/.test(layout)) throw new IbError(`invalid keyboard layout "${layout}"`, { hint: 'use an XKB layout name like us, de or fr' });
  const old = await readText(root, '/etc/default/keyboard');
  let text: string;
  if (old === undefined) {
    text = `XKBMODEL="pc105"\nXKBLAYOUT="${layout}"\nXKBVARIANT=""\nXKBOPTIONS=""\n\nBACKSPACE="guess"\n`;
  } else if (/^XKBLAYOUT=/m.test(old)) {
    text = old.replace(/^XKBLAYOUT=.*$/m, `XKBLAYOUT="${layout}"`);
  } else {
    text = old.replace(/\n?$/, `\nXKBLAYOUT="${layout}"\n`);
  }
  await writeFileInRoot(root, '/etc/default/keyboard', text);
}

/** A TOML basic string: JSON's escapes are a subset TOML accepts, except it needs \u007f escaped. */
function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, '\\u007f');
}

/**
 * Kernel arguments, for both consumers: `/etc/kernel/cmdline` (kernel-install, ib's disk and ISO
 * steps) and bootc's `/usr/lib/bootc/kargs.d/10-ib.toml` (bootc and ostree deployments).
 */
export async function applyKernelCmdline(root: string, args: readonly string[]): Promise<void> {
  if (args.length === 0) return;
  await writeFileInRoot(root, '/etc/kernel/cmdline', args.join(' ') + '\n', { mode: 0o644, uid: 0, gid: 0 });
  await writeFileInRoot(root, '/usr/lib/bootc/kargs.d/10-ib.toml', `kargs = [${args.map(tomlString).join(', ')}]\n`, { mode: 0o644, uid: 0, gid: 0 });
}
