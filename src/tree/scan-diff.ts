/**
 * The fallback where overlayfs is missing (some container hosts, rootless without user xattrs):
 * the step ran on a full copy of the tree, and its layer is found by comparing the copy with the
 * layers below. It produces exactly the layer dir `captureUpper` makes for the same change (the
 * rules are in capture.ts and shared through layer-entry.ts and noise.ts): whiteouts for what is
 * gone, every new or changed entry with its parents, nothing that is unchanged.
 *
 * It reads the whole tree (content of every same-looking file is compared), so it is slower than
 * capture: 670 MB of tree is read twice.
 */
import { copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, chmodSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { readXattrsTree, writeXattrs, type Xattrs } from '../exec/xattr.js';
import type { CaptureStats } from './capture.js';
import { kindOf, ownXattrs, sameEntry } from './layer-entry.js';
import { makeNode, WhiteoutMaker } from './layer-ops.js';
import { LowerView } from './lower-view.js';
import { noiseAction } from './noise.js';

export interface ScanDiffOptions {
  sourceDateEpoch: number;
  run?: Run;
}

const child = (rel: string, name: string) => (rel === '' ? name : `${rel}/${name}`);

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Write into `outLayerDir` (created; must be empty) the layer that turns the merged `lower` (one
 * flattened tree or a stack of layer dirs, topmost first) into `newTree`.
 */
export async function scanDiff(lower: string | readonly string[], newTree: string, outLayerDir: string, opts: ScanDiffOptions): Promise<CaptureStats> {
  const run = opts.run ?? defaultRun;
  const sde = opts.sourceDateEpoch;
  mkdirSync(outLayerDir, { recursive: true });
  if ((await readdir(outLayerDir)).length > 0) throw new IbError(`${outLayerDir} is not empty`, { hint: 'scan-diff writes a fresh layer dir' });
  const view = new LowerView(typeof lower === 'string' ? [lower] : lower, run);
  await view.loadAll();
  const newX = await readXattrsTree(newTree, run);
  const whiteouts = new WhiteoutMaker(run);
  const stats: CaptureStats = { files: 0, dirs: 0, whiteouts: 0, bytes: 0, dropped: 0, noise: 0 };
  const xattrJobs: { path: string; xattrs: Xattrs }[] = [];
  const times: { path: string; st: Stats }[] = [];
  const links = new Map<string, string>();
  const src = (rel: string) => (rel === '' ? newTree : join(newTree, rel));
  const out = (rel: string) => (rel === '' ? outLayerDir : join(outLayerDir, rel));

  const setMeta = (rel: string, st: Stats) => {
    const p = out(rel);
    lchownSync(p, st.uid, st.gid);
    if (!st.isSymbolicLink()) chmodSync(p, st.mode & 0o7777);
    const own = ownXattrs(newX.get(rel));
    if (Object.keys(own).length > 0) xattrJobs.push({ path: p, xattrs: own });
    times.push({ path: p, st });
  };

  /** Copy one non-directory entry (as truncated empty file for the machine-id rule). */
  const emitEntry = async (rel: string, st: Stats, truncated: boolean) => {
    const p = out(rel);
    const kind = kindOf(st);
    if (kind === 'file') {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 && !truncated ? links.get(key) : undefined;
      if (first) {
        // Hardlinks inside the new content stay hardlinks, as they do in an upper dir.
        linkSync(first, p);
        stats.files++;
        return;
      }
      if (truncated) writeFileSync(p, '');
      else copyFileSync(src(rel), p);
      if (st.nlink > 1 && !truncated) links.set(key, p);
      stats.bytes += truncated ? 0 : st.size;
    } else if (kind === 'symlink') symlinkSync(readlinkSync(src(rel)), p);
    else if (kind === 'socket') return; // not representable in a layer
    else if (kind === 'char' || kind === 'block' || kind === 'fifo') await makeNode(p, kind, st.rdev, run);
    else await makeNode(p, 'char', 0, run); // a 0:0 device is a whiteout in any layer dir
    stats.files++;
    setMeta(rel, st);
  };

  /** A path the lower does not have (or has as another kind): everything below it is new. */
  const emitFull = async (rel: string, st: Stats): Promise<void> => {
    if (!st.isDirectory()) {
      const noise = noiseAction(rel);
      if (noise === 'drop') {
        stats.noise++;
        return;
      }
      const truncated = noise === 'truncate' && st.isFile() && st.size > 0;
      if (truncated) stats.noise++;
      await emitEntry(rel, st, truncated);
      return;
    }
    mkdirSync(out(rel));
    stats.dirs++;
    for (const name of readdirSync(src(rel)).sort()) await emitFull(child(rel, name), lstatSync(src(child(rel, name))));
    setMeta(rel, st);
  };

  // Output directories are made on first use: making and removing one for each of the ~3,500
  // unchanged directories of a Debian tree cost 8 s of rmdir.
  const made = new Set<string>(['']);
  const ensureDir = (rel: string) => {
    if (made.has(rel)) return;
    ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    mkdirSync(out(rel));
    made.add(rel);
  };

  /** Both sides are directories: merge. Returns whether anything was written below `rel`. */
  const diffDir = async (rel: string): Promise<boolean> => {
    const names = [...new Set([...readdirSync(src(rel)), ...(await view.children(rel))])].sort();
    let any = false;
    for (const name of names) {
      const r = child(rel, name);
      const a = lstatOrUndefined(src(r));
      const b = await view.lookup(r);
      if (!a) {
        if (b) {
          ensureDir(rel);
          await whiteouts.make(out(r));
          stats.whiteouts++;
          any = true;
        }
        continue;
      }
      const aSide = { host: src(r), st: a, xattrs: newX.get(r) ?? {} };
      const bSide = b && { host: b.host, st: b.st, xattrs: await view.xattrsOf(b.host) };
      if (a.isDirectory()) {
        if (!bSide?.st.isDirectory()) {
          ensureDir(rel);
          await emitFull(r, a);
          any = true;
        } else if ((await diffDir(r)) || !sameEntry(aSide, bSide, sde)) {
          ensureDir(r);
          stats.dirs++;
          setMeta(r, a);
          any = true;
        } else stats.dropped++;
        continue;
      }
      const noise = noiseAction(r);
      const truncated = noise === 'truncate' && a.isFile() && a.size > 0;
      if (truncated) stats.noise++;
      const same = bSide !== undefined && sameEntry(aSide, bSide, sde, truncated);
      if (noise === 'drop') {
        if (same) stats.dropped++;
        else stats.noise++;
        continue;
      }
      if (same) {
        if (!truncated) stats.dropped++;
        continue;
      }
      ensureDir(rel);
      await emitEntry(r, a, truncated);
      any = true;
    }
    return any;
  };

  const rootSt = lstatSync(newTree);
  const rootBelow = await view.lookup('');
  if (rootBelow?.st.isDirectory()) await diffDir('');
  else await emitFullRoot();
  setMeta('', rootSt);
  stats.dirs++;
  await writeXattrs(xattrJobs, run);
  // Times last: creating entries bumps a directory's mtime.
  for (const t of times) lutimesSync(t.path, t.st.atime, t.st.mtime);
  return stats;

  async function emitFullRoot(): Promise<void> {
    for (const name of readdirSync(newTree).sort()) await emitFull(name, lstatSync(src(name)));
  }
}
