/**
 * A small depth-first walk over a directory (no symlinks followed), sorted by name so that what
 * is generated from it (tmpfiles lines, error lists) is the same on every run.
 */
import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkEntry {
  /** Relative to the walk root, '/'-separated, no leading slash. */
  rel: string;
  abs: string;
  dirent: Dirent;
}

/** Visit every entry under `root`; return false from `visit` to skip a directory's contents. */
export async function walk(root: string, visit: (e: WalkEntry) => Promise<boolean | void> | boolean | void, rel = ''): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(join(root, rel), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of entries) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    const descend = await visit({ rel: r, abs: join(root, r), dirent: d });
    if (d.isDirectory() && descend !== false) await walk(root, visit, r);
  }
}

export function describeType(d: Dirent | Stats): string {
  if (d.isCharacterDevice()) return 'character device';
  if (d.isBlockDevice()) return 'block device';
  if (d.isFIFO()) return 'fifo';
  if (d.isSocket()) return 'socket';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isDirectory()) return 'directory';
  return 'file';
}

export async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch {
    return undefined;
  }
}
