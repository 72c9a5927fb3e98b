/**
 * The one way ib touches a root tree from the host side. A tree is untrusted data: its `etc` may
 * be a symlink to `/etc`, its `etc/fstab` a link to `/etc/fstab`, a unit a link to `../../..`. A
 * plain `writeFile(join(root, '/etc/fstab'))` follows those links and rewrites the *host*. So every
 * path is resolved the way the kernel would resolve it inside a chroot (Go's securejoin is the
 * model): symlinks are followed component by component, absolute targets restart at the root and
 * `..` stops at the root. The writers below then create or replace the final component without
 * ever following it. Races are not a concern: nothing else runs in the tree while ib writes it.
 */
import { constants, type Stats } from 'node:fs';
import { chmod, chown, lchown, lstat, mkdir, open, readFile, readlink, rename, rm, rmdir, symlink, unlink } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { IbError } from '../errors.js';

/** securejoin's limit; the kernel's is 40, but deep distro link farms exist. */
const MAX_SYMLINKS = 255;

export interface Ownership {
  mode?: number;
  uid?: number;
  gid?: number;
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function lstatOrUndefined(host: string): Promise<Stats | undefined> {
  try {
    return await lstat(host);
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
}

/**
 * The host path of `path` inside `root`, every symlink resolved inside the root. Components that
 * do not exist are appended as they are, so the result is also what a create would make. The
 * result is always `root` or below it.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const rootAbs = resolvePath(root);
  let todo = components(path);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    const host = join(rootAbs, ...done, c);
    const st = await lstatOrUndefined(host);
    if (!st?.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new IbError(`resolving ${path} in ${root}: too many levels of symbolic links`, {
        hint: 'the tree has a symlink loop (for example etc -> /etc); fix or remove that link in the base image',
      });
    }
    const target = await readlink(host);
    if (target.startsWith('/')) done.length = 0;
    todo = [...components(target), ...todo];
  }
  return join(rootAbs, ...done);
}

/**
 * The resolved parent directory of `path` and its last component, which is *not* resolved: the
 * writers replace a symlink there instead of writing through it.
 */
async function splitInRoot(root: string, path: string): Promise<{ parent: string; name: string; target: string }> {
  const parts = components(path);
  const name = parts.pop();
  if (name === undefined || name === '..') {
    throw new IbError(`${JSON.stringify(path)} does not name a file in the tree`, { hint: 'give a path like /etc/motd' });
  }
  const parent = await resolveInRoot(root, parts.join('/'));
  return { parent, name, target: join(parent, name) };
}

let tmpCounter = 0;
function tmpName(parent: string, name: string): string {
  return join(parent, `.ib-tmp-${process.pid}-${++tmpCounter}-${name.slice(0, 64)}`);
}

async function ensureDir(root: string, hostDir: string): Promise<void> {
  // hostDir came out of resolveInRoot: its existing part has no symlinks, so creating the missing
  // tail with plain mkdir cannot leave the root.
  const rootAbs = resolvePath(root);
  const rel = components(hostDir.slice(rootAbs.length));
  let cur = rootAbs;
  for (const c of rel) {
    cur = join(cur, c);
    const st = await lstatOrUndefined(cur);
    if (st?.isDirectory()) continue;
    if (st) throw new IbError(`cannot create directory ${cur.slice(rootAbs.length)} in the tree: a ${kindOf(st)} is in the way`);
    await mkdir(cur, { mode: 0o755 });
    await chmod(cur, 0o755);
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFile()) return 'file';
  return 'special file';
}

function inTree(path: string, root: string, e: unknown, verb: string): IbError {
  if (e instanceof IbError) return e;
  return new IbError(`${verb} ${path} in ${root}: ${(e as Error).message}`, { cause: e });
}

/**
 * Write a regular file. Missing parent directories are created (0755 root:root, like
 * `install -D`). A symlink at `path` is replaced, never written through. Without `mode`/`uid`/
 * `gid`, an existing regular file keeps its own (so /etc/shadow stays 0640 root:shadow); a new
 * file is 0644 root:root. The write is atomic (temp file + rename) so a failure leaves the old file.
 */
export async function writeFileInRoot(root: string, path: string, data: string | Uint8Array, opts: Ownership = {}): Promise<void> {
  try {
    const { parent, name, target } = await splitInRoot(root, path);
    await ensureDir(root, parent);
    const old = await lstatOrUndefined(target);
    if (old?.isDirectory()) throw new IbError(`cannot write file ${path} in the tree: a directory is in the way`);
    const keep = old?.isFile() ? old : undefined;
    const mode = opts.mode ?? (keep ? keep.mode & 0o7777 : 0o644);
    const tmp = tmpName(parent, name);
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await fh.writeFile(data);
      // chown before chmod: chown clears setuid/setgid bits.
      await fh.chown(opts.uid ?? keep?.uid ?? 0, opts.gid ?? keep?.gid ?? 0);
      await fh.chmod(mode);
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fh.close();
    await rename(tmp, target);
  } catch (e) {
    throw inTree(path, root, e, 'writing');
  }
}

/**
 * `mkdir -p` inside the tree. Existing symlinks along the way are followed *inside* the root
 * (/var/run -> /run works). `mode`/`uid`/`gid`, when given, are applied to the last directory even
 * if it already existed; parents are created 0755 root:root.
 */
export async function mkdirInRoot(root: string, path: string, opts: Ownership = {}): Promise<string> {
  try {
    const host = await resolveInRoot(root, path);
    await ensureDir(root, host);
    if (opts.uid !== undefined || opts.gid !== undefined) {
      const st = await lstat(host);
      await chown(host, opts.uid ?? st.uid, opts.gid ?? st.gid);
    }
    if (opts.mode !== undefined) await chmod(host, opts.mode);
    return host;
  } catch (e) {
    throw inTree(path, root, e, 'creating directory');
  }
}

/** Create (or replace) a symlink at `path` pointing at `target`; the link itself is owned uid:gid. */
export async function symlinkInRoot(root: string, path: string, target: string, opts: { uid?: number; gid?: number } = {}): Promise<void> {
  try {
    const { parent, name, target: host } = await splitInRoot(root, path);
    await ensureDir(root, parent);
    const old = await lstatOrUndefined(host);
    if (old?.isDirectory()) throw new IbError(`cannot create symlink ${path} in the tree: a directory is in the way`);
    const tmp = tmpName(parent, name);
    await symlink(target, tmp);
    await lchown(tmp, opts.uid ?? 0, opts.gid ?? 0);
    await rename(tmp, host);
  } catch (e) {
    throw inTree(path, root, e, 'creating symlink');
  }
}

/** Remove `path` (the link itself if it is a symlink). Returns false if there was nothing. */
export async function removeInRoot(root: string, path: string, opts: { recursive?: boolean } = {}): Promise<boolean> {
  try {
    const { target } = await splitInRoot(root, path);
    const st = await lstatOrUndefined(target);
    if (!st) return false;
    if (!st.isDirectory()) await unlink(target);
    else if (opts.recursive) await rm(target, { recursive: true, force: true });
    else await rmdir(target);
    return true;
  } catch (e) {
    throw inTree(path, root, e, 'removing');
  }
}

/** The content of a file in the tree (symlinks followed inside the root), or undefined if missing. */
export async function readFileInRoot(root: string, path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path));
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw inTree(path, root, e, 'reading');
  }
}

/**
 * Stat a path in the tree. With `follow` (the default) the final component is resolved inside the
 * root too (what a program in the tree would see); without it, the link itself is described.
 */
export async function statInRoot(root: string, path: string, opts: { follow?: boolean } = {}): Promise<Stats | undefined> {
  if (opts.follow ?? true) return lstatOrUndefined(await resolveInRoot(root, path));
  const { target } = await splitInRoot(root, path);
  return lstatOrUndefined(target);
}
