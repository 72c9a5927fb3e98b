/**
 * Disk images from a root tree (classic) or an ostree sysroot: GPT, filesystems built from
 * directories at their offsets, GRUB for BIOS and UEFI placed by ib, then raw -> qcow2/vmdk/vhd.
 * The input tree is never written to, nor even its atimes: it is read through a no-atime view, and
 * what the disk adds goes in through a staging overlay.
 */
export { buildDisk, diskIdentifiers, type BuildDiskOptions, type BuildDiskResult, type DeployKind } from './build.js';
export type { DiskIds } from './medium.js';
export * from './layout.js';
export { FORMATS, parseFormat, convertRaw, imageInfo, formatFromName, ImageInfo, type DiskFormat } from './image.js';
export { makeExt4, makeVfat, usedInodes, type Region } from './filesystems.js';
export { readPartitionTable, writePartitionTable, SfdiskTable } from './partition-table.js';
export { TreeView, withTreeView } from './tree-view.js';
export { measureTree, type TreeSize } from './tree-size.js';
export { Stage } from './stage.js';
