/**
 * A stack of layer dirs → one plain, writable directory tree, without mounting anything: the
 * merged view overlayfs would show, for hosts where overlay cannot be mounted (overlay-support.ts).
 * A step then runs on this private copy and scan-diff finds its layer; `ib export` writes it.
 *
 * Layers are copied bottom-up with `cp -a --reflink=auto`, so hard links, xattrs (file
 * capabilities), devices, modes, owners and nanosecond times are kept exactly as cp keeps them
 * when it copies a mounted overlay. Before a layer is copied, what it hides is removed from the
 * copy: the target of each whiteout (char 0:0), the old contents of each opaque directory
 * (`trusted.overlay.opaque=y`), and an entry whose kind the layer changes (cp refuses to put a
 * file over a directory or a directory over a file). `--remove-destination` replaces a file by a
 * new inode instead of writing into the old one, which would change every hard link of it in the
 * layers below. After cp: the whiteouts it copied are deleted (their parents' times put back),
 * overlay's bookkeeping xattrs are stripped, and xattrs a directory lost in a higher layer are
 * removed (cp merges xattrs into an existing directory instead of replacing them).
 *
 * One difference from a step on overlayfs remains: there, writing into a file that has hard links
 * in the layers below copies it up and breaks the link (overlay mounts use index=off); in a copy
 * the write reaches every link, as on any filesystem. dpkg and apt replace files by rename, so
 * package steps never see it.
 */
import { lstatSync, readdirSync, unlinkSync, type Stats } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { readXattrsTree, type Xattrs } from '../exec/xattr.js';
import { isWhiteout, OPAQUE, OVERLAY_PREFIX, ownXattrs } from './layer-entry.js';
import { removeXattrs } from './layer-ops.js';

export interface MaterializeOptions {
  run?: Run;
}

export interface MaterializeStats {
  layers: number;
  /** Entries of lower layers removed because a higher layer hides or replaces them. */
  hidden: number;
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
 * Write the merged tree of `lowers` (layer dirs, topmost first: overlayfs' lowerdir order) into
 * `out`, which is created and must be empty.
 */
export async function materializeLayers(lowers: readonly string[], out: string, opts: MaterializeOptions = {}): Promise<MaterializeStats> {
  const run = opts.run ?? defaultRun;
  await mkdir(out, { recursive: true });
  if ((await readdir(out)).length > 0) throw new IbError(`${out} is not empty`, { hint: 'materialize writes a fresh tree' });
  const stats: MaterializeStats = { layers: 0, hidden: 0 };
  // rel → own xattrs of what the copy has there now, for entries that have any.
  const copyXattrs = new Map<string, Xattrs>();
  for (const layer of [...lowers].reverse()) {
    await copyLayer(layer, out, copyXattrs, stats, run);
    stats.layers++;
  }
  return stats;
}

async function copyLayer(layer: string, out: string, copyXattrs: Map<string, Xattrs>, stats: MaterializeStats, run: Run): Promise<void> {
  const xattrs = await readXattrsTree(layer, run);
  const dst = (rel: string) => (rel === '' ? out : join(out, rel));
  const src = (rel: string) => (rel === '' ? layer : join(layer, rel));
  const whiteouts: string[] = [];
  const strip: { path: string; names: string[] }[] = [];
  const hide = async (rel: string) => {
    await rm(dst(rel), { recursive: true, force: true });
    stats.hidden++;
  };

  // 1. Walk the layer; while the copy has the same directory, clear what this layer hides there.
  const visit = async (rel: string, copyMayHave: boolean): Promise<void> => {
    const st = lstatSync(src(rel));
    const x = xattrs.get(rel) ?? {};
    if (isWhiteout(st)) {
      if (copyMayHave && lstatOrUndefined(dst(rel))) await hide(rel);
      whiteouts.push(rel);
      return;
    }
    const overlayNames = Object.keys(x).filter((n) => n.startsWith(OVERLAY_PREFIX));
    if (overlayNames.length > 0) strip.push({ path: dst(rel), names: overlayNames });
    const below = copyMayHave ? lstatOrUndefined(dst(rel)) : undefined;
    const own = ownXattrs(x);
    if (!st.isDirectory()) {
      if (below?.isDirectory()) await hide(rel);
    } else {
      const opaque = x[OPAQUE]?.toString() === 'y';
      if (below && (!below.isDirectory() || opaque)) {
        // An opaque root hides the whole tree below; `out` itself must stay.
        if (rel === '') for (const name of readdirSync(out)) await hide(name);
        else await hide(rel);
      }
      const kept = below?.isDirectory() === true && (rel === '' || !opaque);
      if (kept) {
        const lost = Object.keys(copyXattrs.get(rel) ?? {}).filter((n) => own[n] === undefined);
        if (lost.length > 0) strip.push({ path: dst(rel), names: lost });
      }
      const merged = kept && !opaque;
      for (const name of readdirSync(src(rel)).sort()) await visit(child(rel, name), merged);
    }
    if (Object.keys(own).length > 0) copyXattrs.set(rel, own);
    else copyXattrs.delete(rel);
  };
  await visit('', true);

  // 2. Copy the layer over the copy.
  await run('cp', ['-a', '--reflink=auto', '--remove-destination', '--', `${layer}/.`, `${out}/`]);

  // 3. Whiteouts are markers, not content; deleting one bumps its directory's times, which cp had
  //    set from the layer: `touch -r` puts them back to the nanosecond.
  const parents = new Set<string>();
  for (const rel of whiteouts) {
    unlinkSync(dst(rel));
    parents.add(rel.includes('/') ? dirname(rel) : '');
  }
  for (const p of [...parents].sort()) await run('touch', ['-h', '-r', src(p), '--', dst(p)]);
  await removeXattrs(strip, run);
}
