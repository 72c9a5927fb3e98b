/**
 * What a deploy kind hands the disk assembly: the filesystems' content (a tree view plus a
 * staging overlay each) and where GRUB looks. `classic` and `ostree` are the two kinds.
 */
import type { GrubSearch, KernelFiles, MenuEntry } from '../bootloader/index.js';
import type { Stage } from './stage.js';
import type { TreeSize } from './tree-size.js';
import type { TreeView } from './tree-view.js';

export interface FsContent {
  view: TreeView;
  stage: Stage;
  /** The view's content without the stage. */
  measured: TreeSize;
}

export interface Medium {
  root: FsContent;
  /** A separate /boot (XBOOTLDR), when the deploy needs one. */
  boot?: FsContent;
  grub: {
    /** Where GRUB's modules go (and grub.cfg, when `entries` is given): a dir inside a stage. */
    grubDir: string;
    search: GrubSearch;
    prefix: string;
    /** Omitted when the tree brings its own grub.cfg (ostree's, regenerated on every deploy). */
    entries?: MenuEntry[];
  };
  kernel?: KernelFiles;
  cmdline?: string;
}

export interface DiskIds {
  diskGuid: string;
  rootUuid: string;
  /** The XBOOTLDR /boot filesystem (ostree disks). */
  bootUuid: string;
}

export interface MediumContext {
  tree: string;
  ids: DiskIds;
  kargs: readonly string[];
  growRoot: boolean;
  sourceDateEpoch: number;
  workDir: string;
  /** Open a view of `dir` (closed by the caller's cleanup); `name` keeps mount points apart. */
  openView(dir: string, name: string): Promise<TreeView>;
}
