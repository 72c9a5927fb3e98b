/**
 * A staging directory of files a disk build adds to a tree (fstab, GRUB's files, the grow-root
 * config) without writing into the tree: it is laid over the tree as an overlay lower. Directories
 * that also exist in the tree take the tree's owner, mode and mtime, because an overlay shows the
 * upper layer's directory metadata; everything else is root-owned and dated SOURCE_DATE_EPOCH.
 */
import { chmod, chown, lchown, lstat, lutimes, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IbError } from '../errors.js';
import { byBytes } from './filesystems.js';

export class Stage {
  constructor(
    readonly dir: string,
    /** The tree the stage will be laid over, or undefined for a standalone dir (the ESP). */
    readonly tree: string | undefined,
    readonly sourceDateEpoch: number,
  ) {}

  path(rel: string): string {
    return join(this.dir, rel);
  }

  async mkdir(rel: string): Promise<string> {
    const p = this.path(rel);
    await mkdir(p, { recursive: true });
    return p;
  }

  async writeFile(rel: string, content: string | Buffer, mode = 0o644): Promise<void> {
    await mkdir(dirname(this.path(rel)), { recursive: true });
    await writeFile(this.path(rel), content, { mode });
    await chmod(this.path(rel), mode);
  }

  async symlink(rel: string, target: string): Promise<void> {
    await mkdir(dirname(this.path(rel)), { recursive: true });
    await symlink(target, this.path(rel));
  }

  /** Fix owners, modes and times; call once everything is written. */
  async finish(): Promise<void> {
    const t = this.sourceDateEpoch;
    const walk = async (rel: string): Promise<void> => {
      const names = (await readdir(join(this.dir, rel))).sort(byBytes);
      for (const name of names) {
        const r = rel ? `${rel}/${name}` : name;
        const p = this.path(r);
        const st = await lstat(p);
        if (st.isDirectory()) {
          await walk(r);
          await this.matchTreeDir(r, p);
        } else if (st.isSymbolicLink()) {
          await lchown(p, 0, 0);
          await lutimes(p, t, t);
        } else {
          await chown(p, 0, 0);
          await utimes(p, t, t);
        }
      }
    };
    await walk('');
    await this.matchTreeDir('', this.dir);
  }

  private async matchTreeDir(rel: string, p: string): Promise<void> {
    const inTree = this.tree ? await lstat(join(this.tree, rel)).catch(() => undefined) : undefined;
    if (inTree && !inTree.isDirectory()) {
      throw new IbError(`the image's /${rel} is not a directory, so ib cannot add files under it`, {
        hint: `make /${rel} a real directory in the image`,
      });
    }
    if (inTree) {
      await chown(p, inTree.uid, inTree.gid);
      await chmod(p, inTree.mode & 0o7777);
      await utimes(p, inTree.atime, inTree.mtime);
    } else {
      await chown(p, 0, 0);
      await chmod(p, 0o755);
      await utimes(p, this.sourceDateEpoch, this.sourceDateEpoch);
    }
  }
}
