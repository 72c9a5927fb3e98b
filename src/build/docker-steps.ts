/**
 * The small pieces the docker executor needs beside its main flow: routing apt's commands
 * between the host and the container, and reading facts of the tree from its layer dirs.
 */
import { IbError } from '../errors.js';
import { commandError, run as defaultRun, type Run, type RunResult } from '../exec/run.js';
import type { StepContainer } from '../engine/index.js';
import type { LowerView } from '../tree/index.js';
import type { AptRoot } from './host-apt.js';

/** The apt-get verb of an argv (`install`, `update`, `purge`…), skipping `-o X=Y` pairs. */
export function aptVerb(argv: readonly string[]): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '-c' || a === '-t') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * A `run` for the apt backend (packages/apt.ts), which drives apt as `chroot ROOT apt-get …`:
 * `update` and the download half of `install` go to the host's apt over the private apt root
 * (the container has no network), everything else runs in the container. apt's messages reach
 * the backend unchanged, so a missing package or a dead mirror is reported as it is by the
 * namespace executor.
 */
export function aptRoute(c: Pick<StepContainer, 'exec'>, root: AptRoot, hostRun: Run = defaultRun): Run {
  return async (cmd, args, opts = {}): Promise<RunResult> => {
    if (cmd !== 'chroot' || args[0] !== root.dir || args.length < 2) {
      throw new IbError(`the docker executor cannot route \`${cmd} ${args.join(' ')}\``);
    }
    const argv = args.slice(1);
    const verb = argv[0] === 'apt-get' ? aptVerb(argv) : undefined;
    const host = (extra: string[]) => hostRun('apt-get', [...argv.slice(1), ...extra], { env: root.env, allowFailure: opts.allowFailure });
    if (verb === 'update') return host([]);
    if (verb === 'install') {
      const d = await host(['--download-only']);
      if (d.exitCode !== 0) return d;
    }
    const env = Object.fromEntries(Object.entries(opts.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
    const r = await c.exec(argv, env);
    if (r.exitCode !== 0 && !opts.allowFailure) throw commandError(argv[0]!, argv.slice(1), r);
    return r;
  };
}

/** Debian's name for an OCI architecture (the two differ for 386, arm and ppc64le). */
export function debianArch(oci: string): string {
  return ({ '386': 'i386', arm: 'armhf', ppc64le: 'ppc64el' } as Record<string, string>)[oci] ?? oci;
}

/**
 * Would `finalizeInstantiation` (tree/instantiate.ts) change this tree? The container phase
 * cannot run it (it is TypeScript); when it has nothing to do — the usual case for a base ib
 * built — the step needs no namespace at all. Keep in step with that function: any doubt
 * answers true, which only costs the host phase. `upper` is the step's own layer dir (the top
 * of `view`): a machine-id the step itself wrote is emptied by capture anyway.
 */
export async function instantiationNeeded(view: LowerView, upper: string): Promise<boolean> {
  const mid = await view.lookup('etc/machine-id');
  if (!mid?.st.isFile()) return true;
  if (mid.st.size !== 0 && !mid.host.startsWith(upper + '/')) return true;
  if ((await view.lookup('var/lib/dbus/machine-id'))?.st.isFile()) return true;
  if (await view.lookup('var/lib/systemd/random-seed')) return true;
  if ((await view.children('etc/ssh')).some((n) => n.startsWith('ssh_host_'))) return true;
  return (await view.lookup('usr/sbin/sshd')) !== undefined || (await view.lookup('sbin/sshd')) !== undefined;
}

/** Kernel versions of a tree (step-inside.ts `kernelVersions`, read from layer dirs). */
export async function kernelVersionsIn(view: LowerView): Promise<string[]> {
  for (const d of ['usr/lib/modules', 'lib/modules']) {
    const e = await view.lookup(d);
    if (!e?.st.isDirectory()) continue;
    const out: string[] = [];
    for (const k of await view.children(d)) {
      if ((await view.lookup(`${d}/${k}/modules.order`)) || (await view.lookup(`${d}/${k}/kernel`))) out.push(k);
    }
    return out.sort();
  }
  return [];
}
