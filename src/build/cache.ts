/**
 * ib's cache dir (`$XDG_CACHE_HOME/ib`, override with --cache-dir or IB_CACHE_DIR):
 *   store/          the local store (OCI image layout; --store overrides)
 *   layers/<hex>/   each layer's content as an overlay upper dir, by diff ID (overlay lowers)
 *   steps/<hex>.json step key → layer (the build cache)
 *   apt/archives/   downloaded .debs, shared by every build
 *   apt/lists/      apt lists, shared by every build
 *   tmp/            work dirs, same filesystem as layers/ so results are renamed into place
 */
import { mkdirSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { pidAlive } from '../exec/lock.js';
import { Digest } from '../oci/types.js';

export function defaultCacheDir(): string {
  if (process.env.IB_CACHE_DIR) return process.env.IB_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'ib');
}

export interface CachePaths {
  root: string;
  store: string;
  layers: string;
  steps: string;
  aptArchives: string;
  aptLists: string;
  tmp: string;
}

export function cachePaths(root = defaultCacheDir(), store?: string): CachePaths {
  const p: CachePaths = {
    root,
    store: store ?? join(root, 'store'),
    layers: join(root, 'layers'),
    steps: join(root, 'steps'),
    aptArchives: join(root, 'apt', 'archives'),
    aptLists: join(root, 'apt', 'lists'),
    tmp: join(root, 'tmp'),
  };
  for (const d of [p.layers, p.steps, p.aptArchives, join(p.aptLists, 'partial'), p.tmp]) mkdirSync(d, { recursive: true });
  return p;
}

export function layerDir(paths: CachePaths, diffId: string): string {
  return join(paths.layers, diffId.replace(/^sha256:/, ''));
}

export const StepRecord = z.object({
  key: Digest,
  /** No layer: the step changed nothing (recorded as an empty_layer history entry). */
  empty: z.boolean(),
  layer: z
    .object({ digest: Digest, diffId: Digest, size: z.number(), mediaType: z.string() })
    .optional(),
  createdBy: z.string(),
});
export type StepRecord = z.infer<typeof StepRecord>;

export async function readStep(paths: CachePaths, key: string): Promise<StepRecord | undefined> {
  try {
    return StepRecord.parse(JSON.parse(await readFile(join(paths.steps, key.replace(/^sha256:/, '') + '.json'), 'utf8')));
  } catch {
    return undefined;
  }
}

export async function writeStep(paths: CachePaths, rec: StepRecord): Promise<void> {
  const file = join(paths.steps, rec.key.replace(/^sha256:/, '') + '.json');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(rec, null, 2));
  await rename(tmp, file);
}


/** Pids of other live ib processes that have work dirs here (a build in its step, a flatten). */
export async function liveWork(paths: CachePaths): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const pids = new Set<number>();
  for (const name of await readdir(paths.tmp).catch(() => [] as string[])) {
    const m = /^[a-z-]+-(\d+)-/.exec(name);
    const pid = m ? Number(m[1]) : NaN;
    if (pid !== process.pid && Number.isInteger(pid) && pidAlive(pid)) pids.add(pid);
  }
  return [...pids].sort((a, b) => a - b);
}

/**
 * Work dirs are named `<what>-<pid>-…`; those of a process that no longer runs (killed, crashed)
 * are removed at the next start, so an interrupted build leaves nothing behind for long.
 */
export async function sweepStaleWork(paths: CachePaths): Promise<void> {
  const { readdir } = await import('node:fs/promises');
  const { removeTree } = await import('../exec/remove.js');
  for (const name of await readdir(paths.tmp).catch(() => [] as string[])) {
    const m = /^[a-z-]+-(\d+)-/.exec(name) ?? /\.(\d+)(\.tmp)?$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) await removeTree(join(paths.tmp, name)).catch(() => undefined);
  }
}
