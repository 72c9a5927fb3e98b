/**
 * Where tests keep what is slow to make (apt downloads, base trees, the ib store of the shared
 * base image) so repeated CI runs on one machine are fast. Override with IB_TEST_CACHE.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const TEST_CACHE = process.env.IB_TEST_CACHE ?? '/var/cache/ib-test';

export function testCacheDir(...parts: string[]): string {
  const dir = join(TEST_CACHE, ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}
