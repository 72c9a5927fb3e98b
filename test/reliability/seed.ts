/**
 * A private cache dir that already holds the shared base image, made in about a second: the
 * store's blobs and the unpacked layer dirs are hard links into the shared cache (both are
 * immutable once written — ib replaces by rename, never in place), apt's .debs and lists are
 * copied (apt and mmdebstrap's sync-out may rewrite those). Tests that kill builds work here, so
 * the shared cache never sees a half-finished run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export function seedCache(shared: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('cp', ['-al', join(shared, 'store'), join(shared, 'layers'), dir]);
  execFileSync('cp', ['-a', join(shared, 'apt'), dir]);
  // Temp files of a process writing to the shared store right now are not ours to judge.
  const ingest = join(dir, 'store', '.ingest');
  for (const n of readdirSync(ingest)) rmSync(join(ingest, n), { force: true });
  return dir;
}
