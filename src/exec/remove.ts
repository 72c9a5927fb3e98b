/**
 * Removing scratch trees that may hold immutable files: libostree marks every deployment
 * directory immutable (chattr +i), and a plain recursive rm then fails with EPERM, leaving the
 * sysroot of an `ib disk --ostree` behind in the cache's tmp dir on every run.
 */
import { rm } from 'node:fs/promises';
import { run } from './run.js';

export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    await run('chattr', ['-R', '-f', '-i', dir], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  }
}
