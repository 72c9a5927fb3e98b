/**
 * A read-only, no-atime view of an input tree, for everything that reads a whole tree (ib's own
 * walks, mkfs.ext4 -d, mksquashfs). The input must come out of a build exactly as it went in, and
 * reading is enough to change it: under relatime the first read of a file, a readdir or a readlink
 * rewrites its atime (overlayfs opens lower files with O_NOATIME, but readlink through it still
 * touched the lower symlinks here). So the tree is bind-mounted `ro,noatime` inside a private mount
 * namespace (exec/mount-ns.ts); ib reads it through `path` and runs tools in it with `exec`. An
 * overlay can lay a staging dir (fstab, GRUB's files) over the tree.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { MountNamespace } from '../exec/mount-ns.js';
import type { Run, RunOptions, RunResult, Spawned } from '../exec/run.js';

/** overlayfs splits lowerdir on ':' and option lists on ','; escape both in paths. */
function escapeOverlayPath(p: string): string {
  return p.replace(/([\\:,])/g, '\\$1');
}

export class TreeView {
  private merged: string | undefined;

  private constructor(
    readonly tree: string,
    private readonly workDir: string,
    private readonly ns: MountNamespace,
  ) {}

  /** `workDir`: a private scratch dir; the mount points are made inside it. */
  static async open(tree: string, workDir: string, opts: { run?: Run } = {}): Promise<TreeView> {
    await mkdir(join(workDir, 'view'), { recursive: true });
    const view = new TreeView(tree, workDir, await MountNamespace.open(opts));
    try {
      await view.exec('mount', ['--bind', '-o', 'ro,noatime', tree, view.inside]);
    } catch (e) {
      await view.close();
      throw e;
    }
    return view;
  }

  /** The view's path inside the namespace (for tools run with `exec`). */
  get inside(): string {
    return this.merged ?? join(this.workDir, 'view');
  }

  /** The view's path for this process: read the tree through it. */
  get path(): string {
    return this.ns.outside(this.inside);
  }

  /** Lay `stageDir` over the tree; `inside`/`path` then show the merged tree. */
  async overlay(stageDir: string): Promise<void> {
    if (this.merged) throw new IbError('the tree view already has an overlay');
    const merged = join(this.workDir, 'merged');
    await mkdir(merged, { recursive: true });
    const lower = join(this.workDir, 'view');
    await this.exec('mount', ['-t', 'overlay', '-o', `noatime,lowerdir=${escapeOverlayPath(stageDir)}:${escapeOverlayPath(lower)}`, 'overlay', merged]);
    this.merged = merged;
  }

  /** Run a command inside the view's mount namespace. */
  exec(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.ns.exec(cmd, args, opts);
  }

  /** Start a command inside the view's namespace with its output streamed (progress bars). */
  spawn(cmd: string, args: readonly string[], opts: RunOptions & { stdout?: 'pipe' | 'ignore' } = {}): Spawned {
    return this.ns.spawn(cmd, args, opts);
  }

  close(): Promise<void> {
    return this.ns.close();
  }
}

/** Open a view, hand it to `fn`, always close it. */
export async function withTreeView<T>(tree: string, workDir: string, fn: (v: TreeView) => Promise<T>, opts: { run?: Run } = {}): Promise<T> {
  const v = await TreeView.open(tree, workDir, opts);
  try {
    return await fn(v);
  } finally {
    await v.close();
  }
}
