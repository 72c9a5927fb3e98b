/**
 * Applies tar entries to a fresh directory in overlay upper-dir form (see layer-dir.ts).
 * Safety rests on one invariant: `nodes` mirrors exactly what this extraction created, so every
 * parent of every path we touch is a real directory we made. An entry whose parent is a symlink
 * is refused (never followed), hard links may only point at entries already extracted, and
 * deferred work (xattrs, mtimes) is dropped for entries that a later entry replaced.
 * Order matters for setuid files and capabilities: chown, then chmod (chown clears setuid),
 * xattrs last (chown also clears security.capability), mtimes after everything else.
 */
import { constants } from 'node:fs';
import { chmod, chown, lchown, link, lutimes, mkdir, open, rm, symlink } from 'node:fs/promises';
import type { Run } from '../exec/run.js';
import { writeXattrs, type Xattrs } from '../exec/xattr.js';
import { OPAQUE_WHITEOUT, OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX, absPath } from './layer-dir.js';
import { memberComponents, shownMember } from './member-path.js';
import { bytes, type TarHeader } from './tar-header.js';

type Kind = 'dir' | 'file' | 'symlink' | 'whiteout' | 'special';

interface Node {
  kind: Kind;
  /** Undefined for hard links: the inode's time belongs to the first name. */
  mtime?: number;
  xattrs?: Xattrs;
  opaque?: boolean;
}

/** Thrown with the member's reason; the caller turns it into a LayerRefusedError. */
export class Refusal extends Error {
  constructor(readonly member: string, reason: string) {
    super(reason);
  }
}

const KIND: Record<TarHeader['type'], Kind> = {
  file: 'file', link: 'file', symlink: 'symlink', dir: 'dir', char: 'special', block: 'special', fifo: 'special',
};

export class LayerApplier {
  private readonly nodes = new Map<string, Node>([['', { kind: 'dir', mtime: 0 }]]);
  private whiteoutProto?: Promise<string>;

  /** `root` must be an empty directory; `scratch` a private dir beside it for the whiteout inode. */
  constructor(private readonly root: string, private readonly scratch: string, private readonly run: Run) {}

  private abs(rel: string): Buffer {
    return absPath(this.root, rel);
  }

  private components(member: string, name: string): string[] {
    const c = memberComponents(name);
    if (typeof c === 'string') throw new Refusal(member, c);
    return c;
  }

  /** Make sure every parent of `comps` is a directory we created; never follow a symlink. */
  private async parents(member: string, comps: string[]): Promise<void> {
    for (let i = 1; i < comps.length; i++) {
      const p = comps.slice(0, i).join('/');
      const n = this.nodes.get(p);
      if (n?.kind === 'dir') continue;
      if (n?.kind === 'symlink') throw new Refusal(member, `goes through the symlink ${shownMember(p)}`);
      if (n && n.kind !== 'whiteout') throw new Refusal(member, `has the non-directory ${shownMember(p)} as a parent`);
      // Missing parent: made like Docker does (0755 root). Over a whiteout: deleted, then
      // recreated in this layer, which in overlay terms is an opaque directory.
      if (n) await rm(this.abs(p), { force: true });
      await mkdir(this.abs(p), { mode: 0o755 });
      this.nodes.set(p, { kind: 'dir', mtime: 0, opaque: n?.kind === 'whiteout' });
    }
  }

  private async remove(rel: string): Promise<void> {
    await rm(this.abs(rel), { recursive: true, force: true });
    this.nodes.delete(rel);
    const prefix = rel + '/';
    for (const k of this.nodes.keys()) if (k.startsWith(prefix)) this.nodes.delete(k);
  }

  private async whiteout(rel: string): Promise<void> {
    // Every whiteout is a hard link to one char device 0:0, as overlayfs makes them: one mknod
    // process per layer instead of one per deleted file.
    this.whiteoutProto ??= (async () => {
      const proto = `${this.scratch}/whiteout`;
      await this.run('mknod', ['-m', '000', proto, 'c', '0', '0']);
      return proto;
    })();
    await link(await this.whiteoutProto, this.abs(rel));
  }

  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const member = h.name;
    const comps = this.components(member, h.name);
    const base = comps[comps.length - 1];
    if (base?.startsWith(WHITEOUT_PREFIX)) return this.whiteoutEntry(member, comps);
    const rel = comps.join('/');
    if (rel === '') {
      if (h.type !== 'dir') throw new Refusal(member, 'replaces the layer root with a non-directory');
      await chown(this.root, h.uid, h.gid);
      await chmod(this.root, h.mode & 0o7777);
      this.nodes.set('', { kind: 'dir', mtime: h.mtime, xattrs: h.xattrs, opaque: this.nodes.get('')?.opaque });
      return;
    }
    await this.parents(member, comps);
    const existing = this.nodes.get(rel);
    const keepDir = existing?.kind === 'dir' && h.type === 'dir';
    if (existing && !keepDir) await this.remove(rel);
    const path = this.abs(rel);
    const node: Node = { kind: KIND[h.type], mtime: h.mtime, xattrs: h.xattrs };
    switch (h.type) {
      case 'dir':
        if (!keepDir) await mkdir(path, { mode: 0o700 });
        await chown(path, h.uid, h.gid);
        await chmod(path, h.mode & 0o7777);
        node.opaque = existing?.opaque;
        break;
      case 'file': {
        const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          for await (const chunk of body) await fh.write(chunk);
          await fh.chown(h.uid, h.gid);
          await fh.chmod(h.mode & 0o7777);
        } finally {
          await fh.close();
        }
        break;
      }
      case 'symlink':
        if (!h.linkname) throw new Refusal(member, 'is a symlink with an empty target');
        await symlink(bytes(h.linkname), path);
        await lchown(path, h.uid, h.gid);
        break;
      case 'link': {
        const target = memberComponents(h.linkname ?? '');
        if (typeof target === 'string') throw new Refusal(member, `is a hard link to ${shownMember(h.linkname ?? '')}, which is outside the layer (${target})`);
        const t = target.join('/');
        const tn = this.nodes.get(t);
        if (!tn || t === rel) throw new Refusal(member, `is a hard link to ${shownMember(h.linkname ?? '')}, which is not (yet) in the layer`);
        if (tn.kind === 'dir') throw new Refusal(member, `is a hard link to the directory ${shownMember(t)}`);
        await link(this.abs(t), path);
        node.kind = tn.kind;
        delete node.mtime;
        delete node.xattrs;
        break;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const spec = h.type === 'fifo' ? ['p'] : [h.type === 'char' ? 'c' : 'b', String(h.devmajor ?? 0), String(h.devminor ?? 0)];
        await this.run('mknod', [path.toString('utf8'), ...spec]);
        await chown(path, h.uid, h.gid);
        await chmod(path, h.mode & 0o7777);
        break;
      }
    }
    this.nodes.set(rel, node);
  }

  private async whiteoutEntry(member: string, comps: string[]): Promise<void> {
    const base = comps[comps.length - 1]!;
    const dirComps = comps.slice(0, -1);
    const dir = dirComps.join('/');
    if (base === OPAQUE_WHITEOUT) {
      if (dir === '') throw new Refusal(member, 'makes the layer root opaque, which overlay lower dirs cannot express');
      await this.parents(member, comps);
      const n = this.nodes.get(dir);
      if (!n || n.kind !== 'dir') {
        if (n) await this.remove(dir);
        await mkdir(this.abs(dir), { mode: 0o755 });
        this.nodes.set(dir, { kind: 'dir', mtime: 0, opaque: true });
      } else n.opaque = true;
      return;
    }
    // Other `.wh..wh.` names are aufs bookkeeping (hard-link dirs), meaningless here.
    if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return;
    const name = base.slice(WHITEOUT_PREFIX.length);
    if (name === '' || name === '.' || name === '..') throw new Refusal(member, `whites out ${JSON.stringify(name || '(empty)')}`);
    const rel = dir === '' ? name : `${dir}/${name}`;
    await this.parents(member, [...dirComps, name]);
    // A whiteout hides the layers below only; a same-named entry of this layer stays (OCI spec).
    const existing = this.nodes.get(rel);
    if (existing && existing.kind !== 'whiteout') return;
    if (existing) return;
    await this.whiteout(rel);
    this.nodes.set(rel, { kind: 'whiteout' });
  }

  /** Xattrs (with opaque markers) in one setfattr batch, then every mtime. */
  async finish(): Promise<void> {
    const xattrs: { path: string; xattrs: Xattrs }[] = [];
    for (const [rel, n] of this.nodes) {
      const x: Xattrs = {};
      // trusted.overlay.* from a tar would steer overlayfs (redirects, metacopy): never restored.
      for (const [k, v] of Object.entries(n.xattrs ?? {})) if (!k.startsWith(OVERLAY_XATTR_PREFIX)) x[k] = v;
      if (n.opaque) x[OPAQUE_XATTR] = Buffer.from('y');
      if (Object.keys(x).length > 0) xattrs.push({ path: this.abs(rel).toString('utf8'), xattrs: x });
    }
    await writeXattrs(xattrs, this.run);
    const timed = [...this.nodes].filter(([, n]) => n.mtime !== undefined);
    for (let i = 0; i < timed.length; i += 64) {
      await Promise.all(timed.slice(i, i + 64).map(([rel, n]) => lutimes(this.abs(rel), n.mtime!, n.mtime!)));
    }
  }
}
