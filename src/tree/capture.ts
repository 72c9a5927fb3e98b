/**
 * Turns an overlayfs upper dir into a clean layer dir, in place. What overlayfs leaves is a diff,
 * but not a clean one (HOWTO-BOOT §9): bookkeeping xattrs, opaque markers on brand-new dirs,
 * copy-ups that changed nothing, apt/dpkg noise.
 *
 * The result is canonical — a function of the tree before and after the step only, not of how the
 * step got there — so `scanDiff` of the same change gives the same layer dir byte for byte:
 * - Opaque directories are rewritten as plain directories plus whiteouts for each lower child that
 *   is gone, so a child recreated identically (rm -rf + reinstall) is dropped as unchanged instead
 *   of being carried in full. Layer dirs from capture never carry `trusted.overlay.opaque`.
 * - A whiteout is kept only if the lower has the path.
 * - A non-directory identical to its lower (see `sameEntry`) is dropped; a directory is dropped if
 *   nothing below it is kept and its own metadata is unchanged.
 * - New or changed content at a noise path is dropped (see noise.ts); deletions are kept.
 * - `trusted.overlay.*` xattrs are removed; redirect or metacopy xattrs mean the upper dir is not
 *   a full diff, and capture refuses.
 */
import { lstatSync, rmdirSync, truncateSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { readXattrsTree, type Xattrs } from '../exec/xattr.js';
import { isWhiteout, OPAQUE, OVERLAY_PREFIX, sameEntry, walkTree, type WalkedTree } from './layer-entry.js';
import { removeXattrs, WhiteoutMaker } from './layer-ops.js';
import { LowerView } from './lower-view.js';
import { noiseAction } from './noise.js';

export interface CaptureOptions {
  sourceDateEpoch: number;
  run?: Run;
}

export interface CaptureStats {
  /** Non-directory entries kept (files, symlinks, devices), whiteouts not counted. */
  files: number;
  dirs: number;
  whiteouts: number;
  /** Bytes of regular-file content kept. */
  bytes: number;
  /** Entries dropped because they changed nothing. */
  dropped: number;
  /** Entries dropped or truncated as noise. */
  noise: number;
}

const FORBIDDEN = ['trusted.overlay.redirect', 'trusted.overlay.metacopy'];

function checkFullDiff(xattrs: Map<string, Xattrs>): void {
  for (const [rel, x] of xattrs) {
    for (const name of FORBIDDEN) {
      if (x[name] !== undefined) {
        throw new IbError(`the overlay upper dir has ${name} on ${rel || '/'}: it is not a complete diff of the step`, {
          hint: 'mount the step overlay with redirect_dir=off,metacopy=off (ib does; another tool may have touched this dir)',
        });
      }
    }
  }
}

const child = (rel: string, name: string) => (rel === '' ? name : `${rel}/${name}`);
const parentOf = (rel: string) => (rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');

export async function captureUpper(upperDir: string, lowerDirs: readonly string[], opts: CaptureOptions): Promise<CaptureStats> {
  const run = opts.run ?? defaultRun;
  const sde = opts.sourceDateEpoch;
  const tree: WalkedTree = walkTree(upperDir);
  const xattrs = await readXattrsTree(upperDir, run);
  checkFullDiff(xattrs);
  const lower = new LowerView(lowerDirs, run);
  await lower.prefetchDirs(tree.children.keys());
  const host = (rel: string) => (rel === '' ? upperDir : join(upperDir, rel));
  const whiteouts = new WhiteoutMaker(run);
  // Removing entries bumps their directory's mtime; the layer must carry the step's mtimes
  // (scan-diff copies them from the new tree), so they are put back at the end.
  const touched = new Set<string>();
  const remove = (rel: string, dir = false) => {
    if (dir) rmdirSync(host(rel));
    else unlinkSync(host(rel));
    touched.add(parentOf(rel));
  };

  // 1. Opaque regions → plain dirs + whiteouts. Inside an opaque dir the upper listing is the
  //    whole truth, for every subdirectory too (overlayfs never looks below it).
  const complete = new Set<string>();
  for (const rel of tree.children.keys()) {
    const parent = rel === '' ? undefined : parentOf(rel);
    if (xattrs.get(rel)?.[OPAQUE]?.toString() !== 'y' && !(parent !== undefined && complete.has(parent))) continue;
    complete.add(rel);
    const below = await lower.lookup(rel);
    if (!below?.st.isDirectory()) continue;
    const names = tree.children.get(rel)!;
    for (const name of await lower.children(rel)) {
      if (names.includes(name)) continue;
      touched.add(rel);
      await whiteouts.make(host(child(rel, name)));
      names.push(name);
      tree.stats.set(child(rel, name), lstatSync(host(child(rel, name))));
    }
    names.sort();
  }

  // 2. Look up every entry's lower counterpart and read their xattrs in a few batches.
  const below = new Map<string, Awaited<ReturnType<LowerView['lookup']>>>();
  for (const rel of tree.stats.keys()) if (rel !== '') below.set(rel, await lower.lookup(rel));
  await lower.prefetch([...below.values()].flatMap((b) => (b ? [b.host] : [])));

  const stats: CaptureStats = { files: 0, dirs: 0, whiteouts: 0, bytes: 0, dropped: 0, noise: 0 };
  const stripList: { path: string; names: string[] }[] = [];

  // 3. Post-order: children first, so a directory knows whether anything below it was kept.
  const settle = async (rel: string): Promise<boolean> => {
    let st = tree.stats.get(rel)!;
    const b = below.get(rel);
    const keep = (): true => {
      const names = Object.keys(xattrs.get(rel) ?? {}).filter((n) => n.startsWith(OVERLAY_PREFIX));
      if (names.length > 0) stripList.push({ path: host(rel), names });
      if (isWhiteout(st)) stats.whiteouts++;
      else if (st.isDirectory()) stats.dirs++;
      else {
        stats.files++;
        if (st.isFile()) stats.bytes += st.size;
      }
      return true;
    };
    if (isWhiteout(st)) {
      if (b) return keep();
      remove(rel);
      stats.dropped++;
      return false;
    }
    if (st.isDirectory()) {
      let any = false;
      for (const name of tree.children.get(rel)!) if (await settle(child(rel, name))) any = true;
      if (rel === '' || any || !b) return keep();
      if (sameEntry({ host: host(rel), st, xattrs: xattrs.get(rel) ?? {} }, { ...b, xattrs: await lower.xattrsOf(b.host) }, sde)) {
        remove(rel, true);
        stats.dropped++;
        return false;
      }
      return keep();
    }
    const noise = noiseAction(rel);
    if (noise === 'drop') {
      const same = b && sameEntry({ host: host(rel), st, xattrs: xattrs.get(rel) ?? {} }, { ...b, xattrs: await lower.xattrsOf(b.host) }, sde);
      remove(rel);
      if (same) stats.dropped++;
      else stats.noise++;
      return false;
    }
    const truncated = noise === 'truncate' && st.isFile() && st.size > 0;
    if (truncated) {
      // Keep the mtime: scan-diff compares the same empty file with the original mtime.
      truncateSync(host(rel), 0);
      utimesSync(host(rel), st.atime, st.mtime);
      st = lstatSync(host(rel));
      tree.stats.set(rel, st);
      stats.noise++;
    }
    if (b && sameEntry({ host: host(rel), st, xattrs: xattrs.get(rel) ?? {} }, { ...b, xattrs: await lower.xattrsOf(b.host) }, sde)) {
      remove(rel);
      if (!truncated) stats.dropped++;
      return false;
    }
    return keep();
  };
  await settle('');
  await removeXattrs(stripList, run);
  for (const rel of touched) {
    const st = tree.stats.get(rel);
    if (st && tree.children.has(rel) && lstatSync(host(rel), { throwIfNoEntry: false })) utimesSync(host(rel), st.atime, st.mtime);
  }
  return stats;
}
