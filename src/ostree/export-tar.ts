/**
 * The ostree-ext "tar format v1" (what bootc and rpm-ostree import; containers/bootc
 * ostree-ext/src/tar/export.rs): each layer is part of a `bare-split-xattrs` repo at
 * `sysroot/ostree/repo` plus a hardlinked checkout of the files it holds.
 * - Every layer starts with the repo skeleton; layer 0 first has `./` and after the skeleton the
 *   commit object, then every dirtree/dirmeta object with the directory entries, then `var/tmp`.
 * - A content object is `objects/XX/REST.file` with the file's owner and mode (a symlink entry
 *   for symlinks), preceded by `REST.file-xattrs-link`, a hardlink to the `.file-xattrs` object
 *   named by the sha256 of its xattrs (written once per layer): the importer needs the xattrs
 *   before the file. Tree paths are hardlinks to the object; empty regular files are plain.
 * Entries carry mtime 0, numeric owners, no xattrs: the same commit always gives the same bytes.
 */
import { createHash } from 'node:crypto';
import type { TarHeader, TarWriteEntry } from '../oci/index.js';
import { S_IFLNK, S_IFMT, type FileObject, type OstreeRepo } from './repo.js';
import { tarPath, type CommitWalk } from './walk.js';

export const REPO_DIR = 'sysroot/ostree/repo';
export const REPO_CONFIG = '[core]\nrepo_version=1\nmode=bare-split-xattrs\n';

type ObjType = 'commit' | 'commitmeta' | 'dirtree' | 'dirmeta' | 'file' | 'file-xattrs' | 'file-xattrs-link';

export function objectTarPath(checksum: string, type: ObjType): string {
  return `${REPO_DIR}/objects/${checksum.slice(0, 2)}/${checksum.slice(2)}.${type}`;
}

/** oci's tar headers take byte strings (one char per byte); commit paths are UTF-8. */
export const byteString = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

const dir = (name: string, mode = 0o755, uid = 0, gid = 0): TarWriteEntry => ({ header: { name, type: 'dir', mode, uid, gid, size: 0, mtime: 0 } });

function data(name: string, buf: Buffer): TarWriteEntry {
  return { header: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: buf.length, mtime: 0 }, body: async function* () { yield buf; } };
}

/** sysroot/ostree/repo with objects/00..ff and the standard subdirectories, then its config. */
export function repoSkeleton(): TarWriteEntry[] {
  const out = ['sysroot', 'sysroot/ostree', REPO_DIR, `${REPO_DIR}/objects`].map((p) => dir(p));
  for (let i = 0; i < 256; i++) out.push(dir(`${REPO_DIR}/objects/${i.toString(16).padStart(2, '0')}`));
  for (const d of ['extensions', 'refs', 'refs/heads', 'refs/mirrors', 'refs/remotes', 'state', 'tmp', 'tmp/cache']) out.push(dir(`${REPO_DIR}/${d}`));
  out.push(data(`${REPO_DIR}/config`, Buffer.from(REPO_CONFIG)));
  return out;
}

/** Writes the entries of one layer; remembers which xattrs objects the layer already has. */
export class LayerExporter {
  private readonly wroteXattrs = new Set<string>();
  private readonly wroteMeta = new Set<string>();

  constructor(
    private readonly repo: OstreeRepo,
    private readonly objects: Map<string, FileObject>,
  ) {}

  private async metaObject(type: 'dirtree' | 'dirmeta', checksum: string, out: TarWriteEntry[]): Promise<void> {
    const key = `${type}:${checksum}`;
    if (this.wroteMeta.has(key)) return;
    this.wroteMeta.add(key);
    out.push(data(objectTarPath(checksum, type), await this.repo.readVariant(type, checksum)));
  }

  /** Layer 0's structure: root entry, skeleton, commit, and all directory metadata in order. */
  async structure(walk: CommitWalk): Promise<TarWriteEntry[]> {
    const root = walk.dirs[0]!;
    const out: TarWriteEntry[] = [dir('.', root.meta.mode & 0o7777, root.meta.uid, root.meta.gid)];
    out.push(...repoSkeleton());
    out.push(data(objectTarPath(walk.checksum, 'commit'), await this.repo.readVariant('commit', walk.checksum)));
    const detached = await this.repo.readCommitMeta(walk.checksum);
    if (detached) out.push(data(objectTarPath(walk.checksum, 'commitmeta'), detached));
    await this.metaObject('dirmeta', root.dirmeta, out);
    await this.metaObject('dirtree', root.dirtree, out);
    let vartmp = false;
    for (const d of walk.dirs.slice(1)) {
      // The root's sysroot is where the repo itself lives in the stream: ostree-ext writes its
      // dirmeta but neither its entry nor anything below it.
      if (d.path === 'sysroot' || d.path.startsWith('sysroot/')) {
        if (d.path === 'sysroot') await this.metaObject('dirmeta', d.dirmeta, out);
        continue;
      }
      await this.metaObject('dirmeta', d.dirmeta, out);
      out.push(dir(byteString(tarPath(d.path)), d.meta.mode & 0o7777, d.meta.uid, d.meta.gid));
      await this.metaObject('dirtree', d.dirtree, out);
      if (d.path === 'var/tmp') vartmp = true;
    }
    // systemd-tmpfiles does not run in a plain container: give it the one /var dir it needs.
    if (!vartmp) out.push(dir('var/tmp', 0o1777));
    return out;
  }

  /** A content object (xattrs link first) and the hardlinks of the paths that use it. */
  content(checksum: string, paths: readonly string[]): TarWriteEntry[] {
    const f = this.objects.get(checksum);
    if (!f) throw new Error(`content object ${checksum} was not loaded`);
    const out: TarWriteEntry[] = [];
    const xsum = createHash('sha256').update(f.xattrs).digest('hex');
    const xpath = objectTarPath(xsum, 'file-xattrs');
    if (!this.wroteXattrs.has(xsum)) {
      this.wroteXattrs.add(xsum);
      out.push(data(xpath, f.xattrs));
    }
    out.push({ header: { name: objectTarPath(checksum, 'file-xattrs-link'), type: 'link', linkname: xpath, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0 } });
    const objPath = objectTarPath(checksum, 'file');
    const isLink = (f.mode & S_IFMT) === S_IFLNK;
    const base: TarHeader = { name: objPath, type: 'file', mode: f.mode & 0o7777, uid: f.uid, gid: f.gid, size: 0, mtime: 0 };
    if (isLink) out.push({ header: { ...base, type: 'symlink', linkname: byteString(f.symlinkTarget ?? '') } });
    else {
      const repo = this.repo;
      out.push({
        header: { ...base, size: f.size },
        body: f.size === 0 ? undefined : async function* () {
          for await (const chunk of await repo.openContent(checksum)) yield chunk as Buffer;
        },
      });
    }
    for (const p of paths) {
      const name = byteString(tarPath(p));
      // Zero-size files are not linked: a container build that modifies one would otherwise
      // also modify the object in sysroot/ (ostree-ext's rule).
      if (!isLink && f.size === 0) out.push({ header: { ...base, name } });
      else out.push({ header: { ...base, name, type: 'link', linkname: objPath } });
    }
    return out;
  }
}
