/**
 * A private cache dir that already holds the shared base image, made in about a second: the
 * store's blobs and the unpacked layer dirs are hard links into the shared cache (both are
 * immutable once written — ib replaces by rename, never in place), apt's .debs and lists are
 * copied (apt and mmdebstrap's sync-out may rewrite those). Tests that kill builds work here, so
 * the shared cache never sees a half-finished run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function seedCache(shared: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('cp', ['-al', join(shared, 'store'), join(shared, 'layers'), dir]);
  execFileSync('cp', ['-a', join(shared, 'apt'), dir]);
  return dir;
}
