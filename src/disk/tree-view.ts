/**
 * A read-only view of an input tree, optionally with a staging directory laid over it, for the
 * tools that read a whole tree (mkfs.ext4 -d, mksquashfs). The input tree must come out of a
 * disk build exactly as it went in, and reading it is enough to change it: under relatime the
 * first read of a file or a readlink of a symlink rewrites its atime (overlayfs opens lower files
 * with O_NOATIME, but readlink through it still touched the lower symlinks here). So the tree is
 * bind-mounted `ro,noatime` and, when there is something to add (fstab, GRUB's files), an overlay
 * puts the staging dir on top. Both mounts live in a private mount namespace that dies with the
 * command, so a crash leaks no mount.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run as defaultRun, type Run, type RunOptions, type RunResult } from '../exec/run.js';

export interface TreeView {
  /** The input tree; never written to. */
  tree: string;
  /** Files that shadow or add to the tree's (same paths); owned by the caller. */
  overlay?: string;
}

/**
 * `mount` needs these two steps in one namespace; a one-line sh glues them, paths go in as
 * positional arguments so nothing is interpolated into the script.
 */
const SCRIPT = [
  'set -eu',
  'tree=$1; low=$2; mnt=$3; lowerdir=$4; shift 4',
  'mount --bind -o ro,noatime "$tree" "$low"',
  'if [ -n "$lowerdir" ]; then mount -t overlay -o "noatime,lowerdir=$lowerdir" overlay "$mnt"; else mount --bind -o ro,noatime "$low" "$mnt"; fi',
  'exec "$@"',
].join('\n');

/** overlayfs splits lowerdir on ':' and option lists on ','; escape both in paths. */
function escapeOverlayPath(p: string): string {
  return p.replace(/([\\:,])/g, '\\$1');
}

/**
 * Run `cmd` with the view mounted at `<workDir>/view`; `args` receives that path.
 * `workDir` must be a private scratch directory (the mount points are made inside it).
 */
export async function runWithTreeView(
  view: TreeView,
  workDir: string,
  cmd: string,
  args: (mountpoint: string) => readonly string[],
  opts: RunOptions & { run?: Run } = {},
): Promise<RunResult> {
  const run = opts.run ?? defaultRun;
  const low = join(workDir, 'view-lower');
  const mnt = join(workDir, 'view');
  await mkdir(low, { recursive: true });
  await mkdir(mnt, { recursive: true });
  const lowerdir = view.overlay ? `${escapeOverlayPath(view.overlay)}:${escapeOverlayPath(low)}` : '';
  return run('unshare', [
    '--mount', '--propagation', 'private', '--',
    'sh', '-c', SCRIPT, 'ib-tree-view', view.tree, low, mnt, lowerdir,
    cmd, ...args(mnt),
  ], opts);
}
