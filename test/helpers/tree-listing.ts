/** A comparable listing of a tree: type, mode, owner, size, sha256 / link target, per path. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

async function fileHash(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p)) h.update(c as Buffer);
  return h.digest('hex');
}

export async function treeListing(root: string, opts: { exclude?: RegExp } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      if (opts.exclude?.test(p)) continue;
      const full = join(root, p);
      const st = await lstat(full);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(p, `dir ${meta}`);
        await walk(p);
      } else if (st.isSymbolicLink()) out.set(p, `link ${meta} -> ${await readlink(full)}`);
      else if (st.isFile()) out.set(p, `file ${meta} ${st.size} ${await fileHash(full)}`);
      else if (st.isCharacterDevice()) out.set(p, `chr ${meta} ${st.rdev}`);
      else if (st.isBlockDevice()) out.set(p, `blk ${meta} ${st.rdev}`);
      else if (st.isFIFO()) out.set(p, `fifo ${meta}`);
      else out.set(p, `other ${meta}`);
    }
  };
  await walk('');
  return out;
}

export function diffListings(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} != ${b.get(k) ?? '(missing)'}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`${k}: (missing) != ${b.get(k)}`);
  return out;
}
