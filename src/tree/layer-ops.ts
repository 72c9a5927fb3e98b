/**
 * Writes into a layer dir that Node 20 cannot do itself (no mknod, no removexattr), through run().
 * TODO(lead): these two belong in src/exec beside readXattrs/writeXattrs (the seam for what Node
 * lacks); they live here until that file grows them.
 */
import { link, mkdtemp, rm, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run as defaultRun, type Run } from '../exec/run.js';

/**
 * Makes whiteouts (char 0:0). One `mknod`, then hard links: overlayfs does the same (a layer's
 * whiteouts share one inode), and a step deleting 500 files must not spawn 500 processes.
 */
export class WhiteoutMaker {
  private seed: string | undefined;

  constructor(private readonly run: Run = defaultRun) {}

  async make(path: string): Promise<void> {
    if (this.seed) {
      try {
        await link(this.seed, path);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'EMLINK') throw e;
      }
    }
    // mknod into a temp dir next to the target, then rename: never leaves a half-made entry.
    const tmp = await mkdtemp(join(dirname(path), '.ib-wh-'));
    try {
      await this.run('mknod', ['-m', '000', join(tmp, 'wh'), 'c', '0', '0']);
      await rename(join(tmp, 'wh'), path);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    this.seed = path;
  }
}

/** mknod for device nodes and fifos copied into a layer (scan-diff). */
export async function makeNode(path: string, kind: 'char' | 'block' | 'fifo', rdev: number, run: Run = defaultRun): Promise<void> {
  // Linux dev_t encoding (glibc's gnu_dev_major/minor).
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  if (kind === 'fifo') await run('mknod', [path, 'p']);
  else await run('mknod', [path, kind === 'char' ? 'c' : 'b', String(major), String(minor)]);
}

/**
 * Remove xattrs from many paths: one `setfattr -h -x NAME path…` per name and batch, since
 * setfattr takes many paths but only one name.
 */
export async function removeXattrs(entries: { path: string; names: string[] }[], run: Run = defaultRun): Promise<void> {
  const byName = new Map<string, string[]>();
  for (const e of entries) for (const n of e.names) byName.set(n, [...(byName.get(n) ?? []), e.path]);
  for (const [name, paths] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (let i = 0; i < paths.length; i += 1000) {
      await run('setfattr', ['-h', '-x', name, '--', ...paths.slice(i, i + 1000)]);
    }
  }
}
