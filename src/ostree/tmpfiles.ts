/**
 * ostree deploys start with an empty /var: what the image had there must be recreated at boot by
 * systemd-tmpfiles (the rpm-ostree "autovar" idea). Directories and symlinks become `d`/`L`
 * lines with numeric owners; files cannot be expressed and are dropped.
 */
import { lstat, readlink } from 'node:fs/promises';
import { debug } from '../log.js';
import { walk } from './fswalk.js';

export type TmpfilesLine =
  | { type: 'd'; path: string; mode: number; uid: number; gid: number }
  | { type: 'L'; path: string; target: string }
  /** Copy `source` to `path` at boot unless `path` exists and is non-empty. */
  | { type: 'C'; path: string; source: string };

/** tmpfiles.d splits on whitespace and unescapes C escapes: such paths are left out. */
const UNSAFE = /[\s"'\\\x00-\x1f\x7f]/;

export function formatTmpfiles(lines: TmpfilesLine[]): string {
  return lines
    .map((l) =>
      l.type === 'd'
        ? `d ${l.path} ${(l.mode & 0o7777).toString(8).padStart(4, '0')} ${l.uid} ${l.gid} - -`
        : l.type === 'L'
          ? `L ${l.path} - - - - ${l.target}`
          : `C ${l.path} - - - - ${l.source}`,
    )
    .join('\n') + (lines.length ? '\n' : '');
}

export interface Converted {
  lines: TmpfilesLine[];
  /** Regular files (and unsafe names) that could not be carried, as absolute paths. */
  dropped: string[];
}

/**
 * Describe the directories and symlinks under `dir` as tmpfiles lines for `prefix` (the path
 * `dir` will have at boot). `skip` lists relative paths whose subtree is handled elsewhere.
 */
export async function treeToTmpfiles(dir: string, prefix: string, skip: ReadonlySet<string> = new Set()): Promise<Converted> {
  const lines: TmpfilesLine[] = [];
  const dropped: string[] = [];
  await walk(dir, async (e) => {
    if (skip.has(e.rel)) return false;
    const path = `${prefix}/${e.rel}`;
    if (UNSAFE.test(path) || (!e.dirent.isDirectory() && !e.dirent.isSymbolicLink())) {
      dropped.push(path);
      return false;
    }
    if (e.dirent.isSymbolicLink()) {
      const target = await readlink(e.abs);
      if (UNSAFE.test(target)) dropped.push(path);
      else lines.push({ type: 'L', path, target });
      return;
    }
    const st = await lstat(e.abs);
    lines.push({ type: 'd', path, mode: st.mode, uid: st.uid, gid: st.gid });
  });
  if (dropped.length) debug(`ostree: ${dropped.length} entries under ${prefix} are not carried into /var at boot`);
  return { lines, dropped };
}
