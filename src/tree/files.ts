/**
 * Recipe `files:` written into a tree: content, a source file next to the recipe, a symlink or a
 * directory, with mode and owner. Owner names are looked up in the *tree's* /etc/passwd and
 * /etc/group (the build host's ids mean nothing in the image), so users are applied first.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FileSpec } from '../recipe/schema.js';
import { IbError } from '../errors.js';
import { loadAccounts, lookupId, type AccountDb } from './account-db.js';
import { mkdirInRoot, symlinkInRoot, writeFileInRoot } from './resolve.js';

export function parseMode(mode: string | number | undefined): number | undefined {
  if (mode === undefined) return undefined;
  return typeof mode === 'number' ? mode : parseInt(mode, 8);
}

/** `uid:gid`, `user:group` or `user` (the user's primary group). */
export function resolveOwner(owner: string, db: AccountDb): { uid: number; gid: number } {
  const [u, g] = owner.split(':') as [string, string | undefined];
  if (/^\d+$/.test(u) && g !== undefined && /^\d+$/.test(g)) return { uid: Number(u), gid: Number(g) };
  const uid = /^\d+$/.test(u) ? Number(u) : lookupId(db.passwd, u, 'user');
  let gid: number;
  if (g === undefined) {
    const entry = db.passwd.entries().find((e) => Number(e[2]) === uid);
    gid = entry ? Number(entry[3]) : uid;
  } else gid = /^\d+$/.test(g) ? Number(g) : lookupId(db.group, g, 'group');
  return { uid, gid };
}

/**
 * Apply `files` in order. Without `mode`, a new file is 0644 (a directory 0755) and an existing
 * file keeps its mode; without `owner`, new entries are root:root. `source` is read relative to
 * `baseDir`, the directory of the recipe or layer file that declared it.
 */
export async function applyFiles(root: string, files: readonly FileSpec[], baseDir: string): Promise<void> {
  if (files.length === 0) return;
  let db: AccountDb | undefined;
  for (const f of files) {
    try {
      let own: { uid?: number; gid?: number } = {};
      if (f.owner !== undefined) {
        db ??= await loadAccounts(root);
        own = resolveOwner(f.owner, db);
      }
      const mode = parseMode(f.mode);
      if (f.symlink !== undefined) await symlinkInRoot(root, f.path, f.symlink, own);
      else if (f.directory) await mkdirInRoot(root, f.path, { ...own, mode: mode ?? 0o755 });
      else {
        let data: string | Buffer;
        if (f.content !== undefined) data = f.content;
        else {
          const src = resolve(baseDir, f.source!);
          try {
            data = await readFile(src);
          } catch (e) {
            throw new IbError(`source ${JSON.stringify(f.source)} not found (looked for ${src})`, {
              cause: e,
              hint: 'source paths are relative to the recipe or layer file that names them',
            });
          }
        }
        await writeFileInRoot(root, f.path, data, { ...own, mode });
      }
    } catch (e) {
      const inner = e instanceof IbError ? e : undefined;
      throw new IbError(`files: ${f.path}: ${(e as Error).message}`, { cause: e, hint: inner?.hint });
    }
  }
}
