/**
 * A comparable description of every entry of a tree, byte-exact where layers must be: type,
 * mode (with setuid/sticky), owner, size + sha256, symlink target, device numbers, hard-link
 * group, mtime (seconds), xattrs (hex). Whiteouts (char 0:0) show as `whiteout`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { readXattrsTree } from '../../src/exec/xattr.js';

export interface SnapshotOptions {
  mtime?: boolean;
  xattrs?: boolean;
  /** Paths (UTF-8, relative) to leave out, with everything below them. */
  exclude?: (rel: string) => boolean;
}

function abs(root: string, rel: string): Buffer {
  return Buffer.concat([Buffer.from(root + '/'), Buffer.from(rel, 'latin1')]);
}

async function hashFile(p: Buffer): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

export async function snapshot(root: string, opts: SnapshotOptions = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const inodes = new Map<string, string>();
  const xattrs = opts.xattrs === false ? new Map() : await readXattrsTree(root);
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(rel ? abs(root, rel) : root, { encoding: 'buffer' })).map((n) => n.toString('latin1')).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const shown = Buffer.from(r, 'latin1').toString('utf8');
      if (opts.exclude?.(shown)) continue;
      const p = abs(root, r);
      // overlayfs lists a whiteout in a dir that exists in one layer only, yet lstat says ENOENT.
      const st = await lstat(p, { bigint: true }).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
      if (!st) continue;
      const mode = (st.mode & 0o7777n).toString(8);
      let line = `${mode} ${st.uid}:${st.gid}`;
      if (st.isCharacterDevice() && st.rdev === 0n) line = 'whiteout';
      else if (st.isDirectory()) line = `dir ${line}`;
      else if (st.isSymbolicLink()) line = `symlink ${line} -> ${(await readlink(p, { encoding: 'buffer' })).toString('hex')}`;
      else if (st.isFile()) line = `file ${line} ${st.size} ${await hashFile(p)}`;
      else if (st.isCharacterDevice()) line = `char ${line} ${st.rdev}`;
      else if (st.isBlockDevice()) line = `block ${line} ${st.rdev}`;
      else if (st.isFIFO()) line = `fifo ${line}`;
      if (!st.isDirectory() && line !== 'whiteout' && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        if (!inodes.has(key)) inodes.set(key, shown);
        line += ` links=${inodes.get(key)}`;
      }
      if (opts.mtime !== false && line !== 'whiteout' && !st.isSymbolicLink()) line += ` mtime=${st.mtimeMs / 1000n}`;
      const x = xattrs.get(shown);
      if (x && line !== 'whiteout') {
        line += ' ' + Object.keys(x).sort().map((k) => `${k}=${(x[k] as Buffer).toString('hex')}`).join(',');
      }
      out.set(shown, line);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

export function diffSnapshots(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}:\n   ${v}\n!= ${b.get(k) ?? '(missing)'}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`${k}: (missing) != ${b.get(k)}`);
  return out;
}
