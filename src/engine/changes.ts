/**
 * A step container's changes read back as a layer dir (overlay upper-dir form), through the
 * engine API only: `docker diff` names every added, changed and deleted path; the image's own
 * GNU tar archives the added and changed ones (no recursion, so a changed /usr is one directory
 * entry, not 600 MB) into a directory bound from the host; deletions become whiteouts.
 *
 * The result is what overlayfs leaves in an upper dir for the same change, minus the opaque
 * markers: `docker diff` reports an opaque directory as changed plus a deletion for each lower
 * child it hides, which is the form capture turns opaque directories into anyway. `captureUpper`
 * then cleans it exactly as it cleans the namespace executor's upper dir.
 *
 * Why not `docker commit` + `docker save`: save re-archives every layer of the image (752 MB and
 * 20 s for the htop derive on this machine) to hand back a 1 MB top layer.
 */
import { createReadStream, lstatSync, lutimesSync, mkdirSync, type Stats } from 'node:fs';
import { link, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { extractLayer, MediaType } from '../oci/index.js';
import type { Change, StepContainer } from './container.js';

export interface IoDir {
  /** The directory on the host… */
  host: string;
  /** …and where it is bound in the container. */
  container: string;
}

export interface ReadChangesResult {
  added: number;
  modified: number;
  deleted: number;
}

/** GNU tar arguments that archive exactly the listed paths with everything a layer keeps. */
export function changesTarArgs(io: IoDir): string[] {
  return [
    'tar', '--create', '--file', `${io.container}/changes.tar`,
    '--directory', '/',
    '--no-recursion', '--null', '--verbatim-files-from', '--files-from', `${io.container}/changes.list`,
    '--format=posix', '--pax-option=delete=atime,delete=ctime',
    '--numeric-owner', '--xattrs', '--xattrs-include=*',
  ];
}

/** The NUL-separated list of paths to archive (relative to /), parents first. */
export function changesList(changes: readonly Change[]): Buffer {
  return Buffer.from(changes.filter((c) => c.kind !== 'deleted').map((c) => `${c.path.replace(/^\/+/, '')}\0`).join(''));
}

async function makeWhiteouts(root: string, rels: readonly string[], run: Run): Promise<void> {
  // Making an entry bumps its directory's mtime; the layer must keep the container's.
  const times = new Map<string, Stats>();
  let seed: string | undefined;
  for (const rel of rels) {
    const path = join(root, rel);
    const parent = dirname(path);
    if (!times.has(parent)) {
      const st = lstatSync(parent, { throwIfNoEntry: false });
      if (!st) {
        // docker diff lists the parent of every deletion as changed; if not, make it plainly.
        mkdirSync(parent, { recursive: true, mode: 0o755 });
      } else times.set(parent, st);
    }
    if (seed) {
      await link(seed, path);
    } else {
      // One char 0:0 node, then hard links to it, as overlayfs and the layer extractor make them.
      await run('mknod', ['-m', '000', path, 'c', '0', '0']);
      seed = path;
    }
  }
  for (const [p, st] of times) lutimesSync(p, st.atime, st.mtime);
}

/**
 * Write the container's changes into `outDir` (which must not exist). `io` must be bound
 * read-write into the container; the archive passes through it.
 */
export async function readChanges(c: StepContainer, io: IoDir, outDir: string, run: Run = defaultRun): Promise<ReadChangesResult> {
  const changes = await c.changes();
  const present = changes.filter((x) => x.kind !== 'deleted');
  const deleted = changes.filter((x) => x.kind === 'deleted').map((x) => x.path.replace(/^\/+/, ''));
  if (present.length > 0) {
    await writeFile(join(io.host, 'changes.list'), changesList(changes));
    const r = await c.exec(changesTarArgs(io));
    if (r.exitCode !== 0) {
      const missing = r.exitCode === 127 || /executable file not found|no such file or directory: unknown/i.test(r.stderr);
      throw new IbError(`archiving the step container's changes failed (tar exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`, {
        hint: missing ? 'the docker executor reads changes back with the image\'s GNU tar: use a base that has tar (every Debian image does)' : undefined,
      });
    }
    await extractLayer(createReadStream(join(io.host, 'changes.tar')), MediaType.layerTar, outDir, { run });
  } else {
    await mkdir(outDir, { mode: 0o755 });
  }
  await makeWhiteouts(outDir, deleted, run);
  return { added: changes.filter((x) => x.kind === 'added').length, modified: changes.filter((x) => x.kind === 'modified').length, deleted: deleted.length };
}
