/**
 * One pass over a commit's directory trees: the structure layer 0 of an ostree-native container
 * carries (dirtree and dirmeta objects, directory entries, in ostree-ext's order) and every
 * content object with the paths that use it.
 */
import type { Commit, DirMeta, OstreeRepo } from './repo.js';

export interface WalkDir {
  /** Commit path without leading slash ('' for the root). */
  path: string;
  dirtree: string;
  dirmeta: string;
  meta: DirMeta;
}

export interface CommitWalk {
  checksum: string;
  commit: Commit;
  /** Depth-first, each directory's subdirectories in dirtree (byte) order, as ostree-ext writes them. */
  dirs: WalkDir[];
  /** Content checksum → commit paths (no leading slash), in walk order. */
  files: Map<string, string[]>;
  /** Commit path → content checksum. */
  byPath: Map<string, string>;
}

export async function walkCommit(repo: OstreeRepo, checksum: string): Promise<CommitWalk> {
  const commit = await repo.readCommit(checksum);
  const dirs: WalkDir[] = [];
  const files = new Map<string, string[]>();
  const byPath = new Map<string, string>();
  const metas = new Map<string, DirMeta>();
  const meta = async (c: string) => {
    let m = metas.get(c);
    if (!m) metas.set(c, (m = await repo.readDirMeta(c)));
    return m;
  };
  const visit = async (path: string, dirtree: string, dirmeta: string): Promise<void> => {
    dirs.push({ path, dirtree, dirmeta, meta: await meta(dirmeta) });
    const t = await repo.readDirTree(dirtree);
    for (const f of t.files) {
      const p = path ? `${path}/${f.name}` : f.name;
      byPath.set(p, f.checksum);
      const list = files.get(f.checksum);
      if (list) list.push(p);
      else files.set(f.checksum, [p]);
    }
    for (const d of t.dirs) await visit(path ? `${path}/${d.name}` : d.name, d.contents, d.meta);
  };
  await visit('', commit.rootContents, commit.rootMeta);
  return { checksum, commit, dirs, files, byPath };
}

/** `usr/etc` is shown as `etc` in the tar stream (ostree-ext's map_path_v1). */
export function tarPath(commitPath: string): string {
  return commitPath === 'usr/etc' || commitPath.startsWith('usr/etc/') ? commitPath.slice(4) : commitPath;
}

/** The files of one directory of a commit (name → content checksum), or undefined if absent. */
export async function readCommitDir(repo: OstreeRepo, commit: Commit, path: string): Promise<Map<string, string> | undefined> {
  let tree = await repo.readDirTree(commit.rootContents);
  for (const name of path.split('/').filter(Boolean)) {
    const d = tree.dirs.find((x) => x.name === name);
    if (!d) return undefined;
    tree = await repo.readDirTree(d.contents);
  }
  return new Map(tree.files.map((f) => [f.name, f.checksum]));
}
