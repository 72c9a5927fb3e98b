/**
 * Read-only access to an ostree repository on disk: its mode, refs, and objects decoded from
 * their GVariant bytes. Metadata objects (commit, dirtree, dirmeta) are stored the same way in
 * every mode; content objects differ: `archive` keeps a header + raw-deflate stream (`.filez`),
 * `bare-user` keeps owner/mode/xattrs in the `user.ostreemeta` xattr, `bare` and
 * `bare-split-xattrs` use real owners and modes (the latter with xattrs in `.file-xattrs` objects).
 */
import { createReadStream, existsSync } from 'node:fs';
import { lstat, open, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createInflateRaw } from 'node:zlib';
import { IbError } from '../errors.js';
import { readXattrsTree } from '../exec/xattr.js';
import { decode, encodeXattrs, type GValue, type GVariantValue } from './gvariant.js';

export type RepoMode = 'archive' | 'bare' | 'bare-user' | 'bare-user-only' | 'bare-split-xattrs';
export type ObjectType = 'commit' | 'commitmeta' | 'dirtree' | 'dirmeta' | 'file';

export const S_IFMT = 0o170000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;

export interface Commit {
  metadata: Record<string, GVariantValue>;
  parent?: string;
  subject: string;
  body: string;
  /** Seconds since the epoch. */
  timestamp: number;
  rootContents: string;
  rootMeta: string;
}

export interface DirTree {
  files: { name: string; checksum: string }[];
  dirs: { name: string; contents: string; meta: string }[];
}

export interface DirMeta {
  uid: number;
  gid: number;
  /** Includes the S_IFDIR bits. */
  mode: number;
  /** Serialized `a(ayay)`. */
  xattrs: Buffer;
}

export interface FileObject {
  checksum: string;
  uid: number;
  gid: number;
  /** Includes the file-type bits (S_IFREG or S_IFLNK). */
  mode: number;
  /** Content size; 0 for symlinks. */
  size: number;
  symlinkTarget?: string;
  /** Serialized `a(ayay)`, exactly the bytes libostree checksums. */
  xattrs: Buffer;
}

const hex = (b: GValue) => (b as Buffer).toString('hex');

export function decodeCommit(buf: Buffer): Commit {
  const [meta, parent, , subject, body, ts, contents, metaCsum] = decode('(a{sv}aya(say)sstayay)', buf, { bigEndian: true }) as GValue[];
  const metadata: Record<string, GVariantValue> = {};
  for (const entry of meta as GValue[][]) metadata[entry[0] as string] = entry[1] as GVariantValue;
  const p = parent as Buffer;
  return {
    metadata,
    parent: p.length === 32 ? p.toString('hex') : undefined,
    subject: subject as string,
    body: body as string,
    timestamp: Number(ts as bigint),
    rootContents: hex(contents!),
    rootMeta: hex(metaCsum!),
  };
}

export function decodeDirTree(buf: Buffer): DirTree {
  const [files, dirs] = decode('(a(say)a(sayay))', buf) as GValue[][][];
  return {
    files: files!.map((f) => ({ name: f[0] as string, checksum: hex(f[1]!) })),
    dirs: dirs!.map((d) => ({ name: d[0] as string, contents: hex(d[1]!), meta: hex(d[2]!) })),
  };
}

/** `(uuua(ayay))`, big-endian: dirmeta objects and bare-user's `user.ostreemeta`. */
export function decodeDirMeta(buf: Buffer): DirMeta {
  const [uid, gid, mode] = decode('(uuua(ayay))', buf, { bigEndian: true }) as number[];
  // The xattrs are the tuple's last member and 1-aligned: their bytes are the rest after 12.
  return { uid: uid!, gid: gid!, mode: mode!, xattrs: buf.subarray(12) };
}

/** Read a string- or bool-valued commit metadata key. */
export function metaString(c: Commit, key: string): string | undefined {
  const v = c.metadata[key];
  return v && typeof v.value === 'string' ? v.value : undefined;
}

export function metaBool(c: Commit, key: string): boolean | undefined {
  const v = c.metadata[key];
  return v && typeof v.value === 'boolean' ? v.value : undefined;
}

export class OstreeRepo {
  private meta?: Map<string, Record<string, Buffer>>;

  private constructor(readonly path: string, readonly mode: RepoMode) {}

  /** Open a repository, with a clear error when `path` is not one. */
  static async open(path: string): Promise<OstreeRepo> {
    let config: string;
    try {
      config = await readFile(join(path, 'config'), 'utf8');
    } catch {
      throw new IbError(`${path} is not an ostree repository (no config file)`, {
        hint: `create one with: ostree --repo=${path} init --mode=archive   (or give the path of an existing repo)`,
      });
    }
    // archive-z2 is the old name of archive.
    const mode = (/^\s*mode\s*=\s*(\S+)\s*$/m.exec(config)?.[1] ?? 'bare').replace(/^archive-z2$/, 'archive');
    if (!existsSync(join(path, 'objects'))) {
      throw new IbError(`${path} is not an ostree repository (no objects directory)`, { hint: `check the path given as --repo` });
    }
    return new OstreeRepo(path, mode as RepoMode);
  }

  objectPath(checksum: string, type: ObjectType): string {
    const ext = type === 'file' ? (this.mode === 'archive' ? 'filez' : 'file') : type;
    return join(this.path, 'objects', checksum.slice(0, 2), `${checksum.slice(2)}.${ext}`);
  }

  /** Resolve a ref (or a full checksum) to a commit checksum. */
  async resolveRev(ref: string): Promise<string> {
    if (/^[0-9a-f]{64}$/.test(ref)) return ref;
    for (const dir of ['refs/heads', 'refs/remotes', 'refs/mirrors']) {
      const p = join(this.path, dir, ref);
      if (existsSync(p)) return (await readFile(p, 'utf8')).trim();
    }
    throw new IbError(`ref ${ref} not found in ostree repository ${this.path}`, {
      hint: `list the refs with: ostree --repo=${this.path} refs`,
    });
  }

  async readVariant(type: ObjectType, checksum: string): Promise<Buffer> {
    try {
      return await readFile(this.objectPath(checksum, type));
    } catch (e) {
      throw new IbError(`ostree repository ${this.path}: missing ${type} object ${checksum}`, {
        cause: e,
        hint: `check it with: ostree --repo=${this.path} fsck`,
      });
    }
  }

  async readCommit(checksum: string): Promise<Commit> {
    return decodeCommit(await this.readVariant('commit', checksum));
  }

  /** The detached metadata of a commit (signatures), if it has any. */
  async readCommitMeta(checksum: string): Promise<Buffer | undefined> {
    const p = this.objectPath(checksum, 'commitmeta');
    return existsSync(p) ? readFile(p) : undefined;
  }

  async readDirTree(checksum: string): Promise<DirTree> {
    return decodeDirTree(await this.readVariant('dirtree', checksum));
  }

  async readDirMeta(checksum: string): Promise<DirMeta> {
    return decodeDirMeta(await this.readVariant('dirmeta', checksum));
  }

  /** bare-user and bare keep what we need in xattrs: read all of them in one process. */
  private async objectXattrs(): Promise<Map<string, Record<string, Buffer>>> {
    if (!this.meta) this.meta = await readXattrsTree(join(this.path, 'objects'));
    return this.meta;
  }

  async loadFile(checksum: string): Promise<FileObject> {
    const p = this.objectPath(checksum, 'file');
    if (this.mode === 'archive') return this.loadArchiveFile(checksum, p);
    const st = await lstat(p).catch((e: unknown) => {
      throw new IbError(`ostree repository ${this.path}: missing file object ${checksum}`, { cause: e });
    });
    const rel = `${checksum.slice(0, 2)}/${checksum.slice(2)}.file`;
    if (this.mode === 'bare-user') {
      const raw = (await this.objectXattrs()).get(rel)?.['user.ostreemeta'];
      if (!raw) throw new IbError(`ostree repository ${this.path}: file object ${checksum} has no user.ostreemeta xattr`);
      const m = decodeDirMeta(raw);
      const isLink = (m.mode & S_IFMT) === S_IFLNK;
      return {
        checksum, uid: m.uid, gid: m.gid, mode: m.mode, xattrs: m.xattrs,
        size: isLink ? 0 : st.size,
        // libostree writes the target with its NUL terminator.
        symlinkTarget: isLink ? (await readFile(p, 'utf8')).replace(/\0$/, '') : undefined,
      };
    }
    let xattrs: Buffer = Buffer.alloc(0);
    if (this.mode === 'bare-split-xattrs') {
      const link = p + '-xattrs-link';
      if (existsSync(link)) xattrs = await readFile(link);
    } else if (this.mode === 'bare') {
      xattrs = encodeXattrs((await this.objectXattrs()).get(rel) ?? {});
    }
    const uid = this.mode === 'bare-user-only' ? 0 : st.uid;
    const gid = this.mode === 'bare-user-only' ? 0 : st.gid;
    if (st.isSymbolicLink()) return { checksum, uid, gid, mode: S_IFLNK | 0o777, size: 0, symlinkTarget: await readlink(p), xattrs };
    return { checksum, uid, gid, mode: st.mode, size: st.size, xattrs };
  }

  private async loadArchiveFile(checksum: string, p: string): Promise<FileObject> {
    const fh = await open(p, 'r').catch((e: unknown) => {
      throw new IbError(`ostree repository ${this.path}: missing file object ${checksum}`, { cause: e });
    });
    try {
      const head = Buffer.alloc(8);
      await fh.read(head, 0, 8, 0);
      const len = head.readUInt32BE(0);
      const hdr = Buffer.alloc(len);
      await fh.read(hdr, 0, len, 8);
      const [size, uid, gid, mode, , target] = decode('(tuuuusa(ayay))', hdr, { bigEndian: true }) as GValue[];
      // (t u u u u) is 24 bytes, then the NUL-terminated symlink target; the xattrs follow and
      // run up to the single framing offset that ends the header.
      const sEnd = 24 + Buffer.byteLength(target as string) + 1;
      const os = hdr.length <= 0xff ? 1 : hdr.length <= 0xffff ? 2 : 4;
      const isLink = ((mode as number) & S_IFMT) === S_IFLNK;
      return {
        checksum, uid: uid as number, gid: gid as number, mode: mode as number,
        size: isLink ? 0 : Number(size as bigint),
        symlinkTarget: isLink ? (target as string) : undefined,
        xattrs: Buffer.from(hdr.subarray(sEnd, hdr.length - os)),
      };
    } finally {
      await fh.close();
    }
  }

  /** The content of a regular file object, as a stream. */
  async openContent(checksum: string): Promise<Readable> {
    const p = this.objectPath(checksum, 'file');
    if (this.mode === 'archive') {
      const fh = await open(p, 'r');
      const head = Buffer.alloc(4);
      await fh.read(head, 0, 4, 0);
      await fh.close();
      return createReadStream(p, { start: 8 + head.readUInt32BE(0) }).pipe(createInflateRaw());
    }
    return createReadStream(p);
  }
}
