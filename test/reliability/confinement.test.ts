/**
 * What a step's own programs (the base image's apt and dpkg, maintainer scripts, `run:`
 * snippets) may do on the build host. A `run:` snippet stands in for a hostile postinst: it
 * records its capability sets, tries to mount, to read the host's disk through a device node of
 * its own making and to leave a file in /dev — and the derive still succeeds, with what the
 * snippet saw captured in the layer. Nothing it tried reached the host.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { STEP_CAPS } from '../../src/tree/index.js';
import { ibOk } from '../helpers/ib.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-confine-'));
const marker = `ib-escape-${process.pid}`;
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(`/dev/${marker}`, { force: true });
});

const SNIPPET = [
  'mkdir -p /ib-probe',
  'grep ^CapBnd /proc/self/status | cut -f2 > /ib-probe/capbnd',
  'grep ^CapEff /proc/self/status | cut -f2 > /ib-probe/capeff',
  `touch /dev/${marker} && echo made > /ib-probe/devfile || echo refused > /ib-probe/devfile`,
  'ls /dev | tr "\\n" " " > /ib-probe/dev',
  'if mount -t tmpfs none /mnt 2>/dev/null; then echo mounted; umount /mnt; else echo refused; fi > /ib-probe/mount',
  // The host's first disk, by its numbers (/proc/partitions is the host's).
  'set -- $(awk \'NR > 2 && $4 !~ /[0-9]$/ { print $1, $2; exit }\' /proc/partitions)',
  'if mknod /ib-probe/disk0 b "$1" "$2" && head -c 512 /ib-probe/disk0 >/dev/null 2>&1; then echo read; else echo refused; fi > /ib-probe/disk',
  'rm -f /ib-probe/disk0',
].join('\n');

/** The capability mask STEP_CAPS stands for, as /proc/PID/status prints it. */
function capMask(): string {
  const bits: Record<string, number> = {
    chown: 0, dac_override: 1, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7, setpcap: 8,
    net_bind_service: 10, net_raw: 13, sys_chroot: 18, mknod: 27, audit_write: 29, setfcap: 31,
  };
  let m = 0n;
  for (const c of STEP_CAPS) m |= 1n << BigInt(bits[c]!);
  return m.toString(16).padStart(16, '0');
}

describe('a step\'s programs run with a container\'s privileges', () => {
  it('keep only the default container capabilities, see a private /dev, and cannot mount or read host disks', async () => {
    const opts = { cacheDir: base.cacheDir };
    await ibOk(['derive', 'from', base.tag, '--run', SNIPPET, '--tag', 'test/confined:1'], opts);
    const out = join(work, 'tree');
    await ibOk(['export', 'test/confined:1', out], opts);
    const probe = (n: string) => readFileSync(join(out, 'ib-probe', n), 'utf8').trim();
    expect(probe('capbnd')).toBe(capMask());
    expect(probe('capeff')).toBe(capMask());
    expect(probe('mount')).toBe('refused');
    // mknod is allowed (dpkg unpacks device nodes), but the tree is mounted nodev.
    expect(probe('disk')).toBe('refused');
    // The snippet's file went to the step's private /dev, never the host's.
    expect(probe('devfile')).toBe('made');
    expect(existsSync(`/dev/${marker}`)).toBe(false);
    expect(probe('dev').split(' ').filter(Boolean).sort()).toEqual(
      ['fd', 'full', marker, 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero'].sort(),
    );
  }, 900_000);
});
