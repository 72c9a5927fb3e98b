/**
 * `ostree commit` of a prepared tree, reproducibly: the commit timestamp comes from
 * SOURCE_DATE_EPOCH and `--parent=none` keeps a re-commit onto an existing branch from gaining
 * a parent (and so a new checksum). Two commits of one tree to one branch give one checksum.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { OstreeRepo } from './repo.js';

export type CommitRepoMode = 'archive' | 'bare-user';

export interface CommitOptions {
  /** A tree made by `prepareTree`. */
  tree: string;
  repo: string;
  branch: string;
  /** Used when the repo is created; an existing repo must have this mode if it is given. */
  mode?: CommitRepoMode;
  subject?: string;
  body?: string;
  /** Becomes the `version` metadata key (and the image's org.opencontainers.image.version). */
  version?: string;
  metadata?: Record<string, string>;
  sourceDateEpoch: number;
  run?: Run;
}

const BRANCH_RE = /^[\w.-]+(\/[\w.-]+)*$/;

/** Create the repository if it does not exist yet; check the mode if it does. */
export async function ensureRepo(path: string, mode: CommitRepoMode | undefined, run: Run = defaultRun): Promise<OstreeRepo> {
  if (!existsSync(join(path, 'config'))) {
    if (existsSync(path) && !existsSync(join(path, 'objects'))) {
      if ((await readdir(path)).length > 0) {
        throw new IbError(`${path} is not an ostree repository and not empty`, { hint: 'give the path of an ostree repository, or a new directory' });
      }
    }
    await mkdir(path, { recursive: true });
    await run('ostree', [`--repo=${path}`, 'init', `--mode=${mode ?? 'archive'}`]);
  }
  const repo = await OstreeRepo.open(path);
  if (mode && repo.mode !== mode) {
    throw new IbError(`ostree repository ${path} has mode ${repo.mode}, not ${mode}`, {
      hint: `commit without a mode to use the repository as it is, or give another --repo`,
    });
  }
  return repo;
}

export function commitArgs(o: CommitOptions): string[] {
  const args = [
    `--repo=${o.repo}`, 'commit',
    `--branch=${o.branch}`,
    '--bootable',
    '--parent=none',
    `--timestamp=@${o.sourceDateEpoch}`,
    `--tree=dir=${o.tree}`,
  ];
  if (o.subject !== undefined) args.push(`--subject=${o.subject}`);
  if (o.body !== undefined) args.push(`--body=${o.body}`);
  const meta: Record<string, string> = { ...(o.metadata ?? {}) };
  if (o.version !== undefined) meta.version = o.version;
  for (const k of Object.keys(meta).sort()) args.push(`--add-metadata-string=${k}=${meta[k]}`);
  return args;
}

/** Commit `tree` to `branch` in `repo` (created if missing); returns the commit checksum. */
export async function ostreeCommit(o: CommitOptions): Promise<string> {
  const run = o.run ?? defaultRun;
  if (!BRANCH_RE.test(o.branch)) {
    throw new IbError(`invalid ostree branch name "${o.branch}"`, { hint: 'use letters, digits, ".", "_", "-" and "/" separators, like debian/12/x86_64' });
  }
  if (!existsSync(join(o.tree, 'usr/etc')) || existsSync(join(o.tree, 'etc'))) {
    throw new IbError(`${o.tree} is not prepared for ostree (expected /usr/etc and no /etc)`, { hint: 'prepare it first (prepareTree / ib ostree commit does it for an image)' });
  }
  await ensureRepo(o.repo, o.mode, run);
  const r = await run('ostree', commitArgs(o));
  const checksum = r.stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(checksum)) throw new IbError(`ostree commit printed "${checksum.slice(0, 100)}", not a checksum`);
  return checksum;
}
