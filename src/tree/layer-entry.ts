/**
 * The pieces capture and scan-diff share, so both make byte-identical layer dirs: how a tree is
 * walked, what a whiteout is, and when an entry is "the same" as the one below it.
 *
 * A **layer dir** is one layer in overlayfs upper-dir form: whiteouts are char devices 0:0,
 * directories that hide everything below carry `trusted.overlay.opaque=y`.
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Xattrs } from '../exec/xattr.js';

export interface WalkedTree {
  /** rel path ('' for the root) → lstat. */
  stats: Map<string, Stats>;
  /** rel dir → child names, sorted. */
  children: Map<string, string[]>;
}

/** Every entry under `dir` (never following symlinks), parents before children. */
export function walkTree(dir: string): WalkedTree {
  const stats = new Map<string, Stats>();
  const children = new Map<string, string[]>();
  const visit = (rel: string) => {
    const host = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(host);
    stats.set(rel, st);
    if (!st.isDirectory()) return;
    const names = readdirSync(host).sort();
    children.set(rel, names);
    for (const n of names) visit(rel === '' ? n : `${rel}/${n}`);
  };
  visit('');
  return { stats, children };
}

export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

export function kindOf(st: Stats): 'whiteout' | 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return st.rdev === 0 ? 'whiteout' : 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

export const OVERLAY_PREFIX = 'trusted.overlay.';
export const OPAQUE = 'trusted.overlay.opaque';

/** The xattrs that are the file's own, without overlayfs' bookkeeping. */
export function ownXattrs(x: Xattrs | undefined): Xattrs {
  const out: Xattrs = {};
  for (const [k, v] of Object.entries(x ?? {})) if (!k.startsWith(OVERLAY_PREFIX)) out[k] = v;
  return out;
}

export function xattrsSame(a: Xattrs, b: Xattrs): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k]!.equals(b[k]!));
}

/** Layers store whole seconds, clamped to SOURCE_DATE_EPOCH: compare what the layer will say. */
export function clampedMtime(st: Stats, sourceDateEpoch: number): number {
  return Math.min(Math.floor(st.mtimeMs / 1000), sourceDateEpoch);
}

// Shared: a fresh 1 MiB pair per file made a whole-tree scan-diff allocate ~60 GB.
const bufA = Buffer.allocUnsafe(1 << 20);
const bufB = Buffer.allocUnsafe(1 << 20);

function filesEqual(a: string, b: string): boolean {
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const ba = bufA;
    const bb = bufB;
    for (;;) {
      const na = readSync(fa, ba, 0, ba.length, null);
      const nb = readSync(fb, bb, 0, bb.length, null);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (!ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

export interface Side {
  host: string;
  st: Stats;
  xattrs: Xattrs;
}

/**
 * Whether `a` changed nothing compared with `b`: same kind, permission bits, owner and own xattrs,
 * and for non-directories the same clamped mtime and the same content / link target / device.
 * Directory mtimes are *not* compared: creating and deleting a temp file (policy-rc.d, dpkg's
 * `.dpkg-new`) bumps the parent's mtime, and comparing it would leave an empty copied-up directory
 * in nearly every layer. `truncated` treats `a` as an empty file (the machine-id rule).
 */
export function sameEntry(a: Side, b: Side, sourceDateEpoch: number, truncated = false): boolean {
  const ka = kindOf(a.st);
  if (ka !== kindOf(b.st)) return false;
  if ((a.st.mode & 0o7777) !== (b.st.mode & 0o7777) || a.st.uid !== b.st.uid || a.st.gid !== b.st.gid) return false;
  if (!xattrsSame(ownXattrs(a.xattrs), ownXattrs(b.xattrs))) return false;
  if (ka === 'dir') return true;
  if (clampedMtime(a.st, sourceDateEpoch) !== clampedMtime(b.st, sourceDateEpoch)) return false;
  switch (ka) {
    case 'file':
      if (truncated) return b.st.size === 0;
      return a.st.size === b.st.size && filesEqual(a.host, b.host);
    case 'symlink':
      return readlinkSync(a.host) === readlinkSync(b.host);
    case 'char':
    case 'block':
      return a.st.rdev === b.st.rdev;
    default:
      return true;
  }
}
