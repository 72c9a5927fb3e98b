/**
 * A new Debian tree with mmdebstrap. The .deb cache under ib's cache dir is synced in and out, so
 * rebuilds download nothing; the time that remains is dpkg's own.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commandError, run as defaultRun, type Run } from '../exec/run.js';
import { IbError } from '../errors.js';
import type { BootstrapSpec } from '../recipe/plan.js';

export interface BootstrapOptions {
  spec: BootstrapSpec;
  /** Must not exist or be empty. */
  target: string;
  archivesCache: string;
  sourceDateEpoch: number;
  run?: Run;
}

export function mmdebstrapArgs(o: BootstrapOptions): string[] {
  const s = o.spec;
  const args = [
    '--mode=root',
    `--variant=${s.variant}`,
    '--format=directory',
    `--architectures=${s.architecture}`,
    `--components=${s.components.join(',')}`,
    // Keep the essential .debs in the archive cache so sync-out saves them for the next build.
    '--skip=essential/unlink',
    '--aptopt=Acquire::Languages "none"',
    '--aptopt=APT::Install-Recommends "false"',
    '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
    `--setup-hook=sync-in ${o.archivesCache} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${o.archivesCache}`,
  ];
  if (s.include.length > 0) args.push(`--include=${s.include.join(',')}`);
  args.push(s.suite, o.target, s.mirror);
  for (const extra of s.extraSuites) args.push(`deb ${s.mirror} ${extra} ${s.components.join(' ')}`);
  return args;
}

export async function bootstrap(o: BootstrapOptions): Promise<void> {
  const run = o.run ?? defaultRun;
  // In root mode mmdebstrap mounts proc, sysfs, devpts and a tmpfs into the target in the
  // caller's mount namespace, and it ignores SIGTERM while dpkg runs: an interrupted ib left four
  // mounts and a running dpkg behind. In a private mount+pid namespace those mounts and processes
  // die with it, and a SIGKILL (the tree is thrown away anyway) stops it at once.
  const r = await run('unshare', ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', '--', 'mmdebstrap', ...mmdebstrapArgs(o)], {
    allowFailure: true,
    killSignal: 'SIGKILL',
    killGroup: true,
    // INITRD=No: the kernel's initramfs is made once, in the plan's final step.
    env: { SOURCE_DATE_EPOCH: String(o.sourceDateEpoch), INITRD: 'No', DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.exitCode === 127 && /failed to execute mmdebstrap/.test(r.stderr)) throw commandError('mmdebstrap', [], { exitCode: 127 });
  if (r.exitCode !== 0) {
    const missing = [...r.stderr.matchAll(/Unable to locate package (\S+)|Package '?([^' ]+)'? has no installation candidate/g)].map((m) => m[1] ?? m[2]);
    if (missing.length > 0) {
      throw new IbError(`bootstrap: package${missing.length > 1 ? 's' : ''} ${missing.map((p) => `"${p}"`).join(', ')} not found in ${o.spec.mirror} ${o.spec.suite}`, {
        hint: 'check the package names (apt-cache search NAME on a Debian machine) or the suite/components',
      });
    }
    const tail = r.stderr.trim().split('\n').filter((l) => /^E:|error/i.test(l)).slice(-8).join('\n') || r.stderr.trim().split('\n').slice(-10).join('\n');
    throw new IbError(`bootstrap with mmdebstrap failed (exit ${r.exitCode}):\n${tail}`);
  }
  // mmdebstrap copies the host's resolv.conf and hostname in: nothing may depend on the build host.
  await writeFile(join(o.target, 'etc/resolv.conf'), '');
  await writeFile(join(o.target, 'etc/hostname'), 'localhost\n');
}
