/**
 * Node has no flock. A lock is a file created with O_EXCL holding our pid; a lock whose pid is
 * gone is stale and taken over. Waiters poll. Good enough for two ib processes on one store.
 */
import { open, readFile, rm, rename, writeFile } from 'node:fs/promises';
import { IbError } from '../errors.js';

/** Is a process with this pid running? (Used to tell stale locks and temp files from live ones.) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Lock {
  release(): Promise<void>;
}

export async function acquireLock(path: string, opts: { timeoutMs?: number; what?: string } = {}): Promise<Lock> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
  let delay = 20;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(String(process.pid));
      } catch (e) {
        // On a full disk the pid does not fit: an empty lock names no holder, so it never
        // looks stale and every later ib waited out the timeout on it.
        await fh.close().catch(() => undefined);
        await rm(path, { force: true });
        throw e;
      }
      await fh.close();
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (holder && !pidAlive(holder)) {
      // Stale: take it over atomically so two waiters don't both win.
      const tmp = `${path}.${process.pid}.stale`;
      await writeFile(tmp, String(process.pid));
      await rename(tmp, path).catch(() => undefined);
      const now = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (now === process.pid) {
        return { release: async () => void (await rm(path, { force: true })) };
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new IbError(`timed out waiting for ${opts.what ?? 'lock'} ${path} held by pid ${holder || '?'}`, {
        hint: 'another ib process is using it; wait for it or remove the lock file if that process is gone',
      });
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 500);
  }
}

export async function withLock<T>(path: string, fn: () => Promise<T>, what?: string): Promise<T> {
  const lock = await acquireLock(path, { what });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
