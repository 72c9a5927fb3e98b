/**
 * Run one program inside a root tree (dracut, lsinitrd) in a private mount namespace, with /proc
 * and the host's /dev mounted for it: every mount dies with the process, even on a crash.
 * A tree flattened from OCI layers has an empty /dev, and dracut's scripts redirect to /dev/null
 * constantly; without the bind they would create a regular file called null and fail later.
 * TODO(lead): use src/tree's isolated run once it lands; this stays private to src/ostree.
 */
import { run as defaultRun, type Run, type RunResult } from '../exec/run.js';

const MOUNT_AND_CHROOT = [
  'set -e',
  'root="$1"; shift',
  'mkdir -p "$root/proc" "$root/dev"',
  'mount -t proc proc "$root/proc"',
  'mount --rbind /dev "$root/dev"',
  'exec chroot "$root" "$@"',
].join('\n');

export function chrootArgs(tree: string, argv: readonly string[]): string[] {
  return ['--mount', '--propagation', 'private', '--', 'sh', '-c', MOUNT_AND_CHROOT, 'sh', tree, ...argv];
}

export async function runInTree(
  tree: string,
  argv: readonly string[],
  opts: { env?: Record<string, string>; allowFailure?: boolean; run?: Run } = {},
): Promise<RunResult> {
  return (opts.run ?? defaultRun)('unshare', chrootArgs(tree, argv), { env: opts.env, allowFailure: opts.allowFailure });
}
