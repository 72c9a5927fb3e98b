/**
 * A stack of layer dirs → one plain directory tree (for mkfs.ext4 -d, ostree commit, mksquashfs).
 * The kernel's overlayfs applies whiteouts and opaque dirs exactly as at build time: the stack is
 * mounted read-only in a private mount namespace and copied out with `cp -a` (xattrs and file
 * capabilities kept; reflinks where the filesystem has them). Where overlayfs is missing (or
 * IB_OVERLAY=off), the same tree is copied layer by layer without a mount (materialize.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { IbError } from '../errors.js';
import { run } from '../exec/run.js';
import { ibEntry } from './isolate.js';
import { materializeLayers } from './materialize.js';
import { overlaySupported } from './overlay-support.js';

export interface FlattenSpec {
  /** Topmost first. */
  lowers: string[];
  out: string;
  scratch: string;
}

/** Parent side. `out` must not exist; it appears only when complete (temp + rename). */
export async function flattenLayers(lowers: string[], out: string, scratchParent: string): Promise<void> {
  if (lowers.length === 0) throw new IbError('cannot flatten an image without layers');
  if (existsSync(out)) throw new IbError(`${out} already exists`, { hint: 'give a path that does not exist yet' });
  await mkdir(scratchParent, { recursive: true });
  const scratch = await mkdtemp(join(scratchParent, `flatten-${process.pid}-`));
  const tmpOut = `${out}.tmp-${process.pid}`;
  try {
    if (!overlaySupported()) {
      // `mount -t overlay` would fail with "unknown filesystem type 'overlay'".
      await materializeLayers(lowers, tmpOut);
      await rename(tmpOut, out);
      return;
    }
    const spec: FlattenSpec = { lowers, out: tmpOut, scratch };
    const specFile = join(scratch, 'spec.json');
    await writeFile(specFile, JSON.stringify(spec));
    await run('unshare', ['--mount', '--propagation', 'private', '--', process.execPath, ibEntry(), '__flatten', specFile]);
    await rename(tmpOut, out);
  } finally {
    await rm(tmpOut, { recursive: true, force: true }).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Child side, inside the private mount namespace. */
export async function flattenInside(specFile: string): Promise<void> {
  const spec = JSON.parse(await readFile(specFile, 'utf8')) as FlattenSpec;
  const merged = join(spec.scratch, 'merged');
  // A read-only overlay needs two lowers at least: an empty dir at the bottom makes one layer work.
  const empty = join(spec.scratch, 'empty');
  await mkdir(merged, { recursive: true });
  await mkdir(empty, { recursive: true });
  const cwd = dirname(spec.lowers[0]!);
  const rel = (p: string) => (dirname(p) === cwd ? relative(cwd, p) : p);
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...spec.lowers.map(rel), empty].join(':')},redirect_dir=off,metacopy=off,index=off,xino=off`, merged], { cwd });
  await mkdir(spec.out, { recursive: true });
  await run('cp', ['-a', '--reflink=auto', `${merged}/.`, `${spec.out}/`]);
}
