/**
 * The shared base image of the e2e suite: recipes/debian-minimal.yaml built once per run (a no-op
 * when the cache under TEST_CACHE already has it) into TEST_CACHE/ib. Tests that only read it
 * share this cache dir; tests that change a store use their own.
 */
import { join } from 'node:path';
import { ibOk } from './ib.js';
import { testCacheDir } from './cache.js';

export interface BaseImage {
  cacheDir: string;
  tag: string;
  digest: string;
  buildSeconds: number;
}

export const BASE_TAG = 'test/debian-minimal:1';

export async function ensureBaseImage(): Promise<BaseImage> {
  const cacheDir = testCacheDir('ib');
  const r = await ibOk(['--json', 'build', join('recipes', 'debian-minimal.yaml'), '--tag', BASE_TAG], { cacheDir });
  return { cacheDir, tag: BASE_TAG, digest: r.stdout.trim(), buildSeconds: r.seconds };
}
