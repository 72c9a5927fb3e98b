/**
 * A flattened Debian tree with a kernel, for tests of the parts that take a tree (disk,
 * bootloader, iso, ostree): the suite's base image (recipes/debian-minimal.yaml built by ib),
 * exported once with `ib export` and cached per image digest. READ-ONLY for tests.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';
import { testCacheDir } from './cache.js';
import { ibOk } from './ib.js';

export async function baseTree(): Promise<string> {
  const base = inject('baseImage');
  const dir = join(testCacheDir('trees'), `debian-minimal-${base.digest.slice(7, 19)}`);
  if (existsSync(join(dir, 'etc/os-release'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await ibOk(['export', base.tag, tmp], { cacheDir: base.cacheDir });
  // Two test files may race here: the first rename wins, the other drops its copy.
  await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  return dir;
}
