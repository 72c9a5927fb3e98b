/**
 * A layer dir with everything an OS layer can hold (as root): setuid + file capabilities,
 * binary xattrs, hard links, symlinks, devices, a fifo, sticky/setgid dirs, huge ids, long and
 * non-UTF-8 names, overlay whiteouts (hard-linked, as overlayfs makes them), opaque dirs with and
 * without a lower counterpart, overlay bookkeeping xattrs that must not leak, and mtimes on both
 * sides of SOURCE_DATE_EPOCH. Plus the lower dir those opaque markers refer to.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, lchown, link, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';

export const SDE = 1700000000;
export const LONG_DIR = 'n/' + 'x'.repeat(150);
export const LONG_FILE = `${LONG_DIR}/${'y'.repeat(200)}`;
export const NON_UTF8 = Buffer.from('caf\xe9-latin1', 'latin1');

export function seeded(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export async function makeLowerDir(dir: string): Promise<void> {
  await mkdir(join(dir, 'opq-in-lower'), { recursive: true });
  await writeFile(join(dir, 'opq-in-lower', 'hidden'), 'from lower\n');
  await writeFile(join(dir, 'gone1'), 'deleted by the layer\n');
}

export async function makeLayerDir(dir: string): Promise<void> {
  const p = (rel: string) => join(dir, rel);
  await mkdir(p('d/e'), { recursive: true });
  await chown(p('d/e'), 1000, 1000);
  await chmod(p('d/e'), 0o700);
  await writeFile(p('d/f'), 'hi\n');
  await chmod(p('d/f'), 0o4755);
  await run('setcap', ['cap_net_raw,cap_setuid+ep', p('d/f')]);
  await run('setfattr', ['-n', 'user.binary', '-v', '0x00ff80fe0a3d', p('d/f')]);
  await link(p('d/f'), p('d/g'));
  await symlink('../x', p('d/l'));
  await lchown(p('d/l'), 1000, 1000);
  await symlink('/etc/passwd', p('d/abs'));
  await mkdir(p('dev'));
  await run('mknod', ['-m', '666', p('dev/null'), 'c', '1', '3']);
  await run('mknod', ['-m', '660', p('dev/loop0'), 'b', '7', '0']);
  await run('mknod', ['-m', '644', p('dev/big'), 'c', '300', '70000']);
  await run('mkfifo', ['-m', '600', p('fifo')]);
  await mkdir(p('tmp'));
  await chmod(p('tmp'), 0o1777);
  await mkdir(p('sgid'));
  await chmod(p('sgid'), 0o2755);
  await writeFile(p('sgid/big'), seeded(3 * 1024 * 1024 + 17, 'big'));
  await writeFile(p('hugeid'), 'owned by a uid that needs PAX\n');
  await chown(p('hugeid'), 3000000, 3000001);
  await mkdir(p(LONG_DIR), { recursive: true });
  await writeFile(p(LONG_FILE), 'long\n');
  await symlink(LONG_FILE, p('longlink'));
  await writeFile(Buffer.concat([Buffer.from(dir + '/'), NON_UTF8]), 'bytes\n');
  // Whiteouts as overlayfs leaves them: char 0:0, many hard links of one inode.
  await mkdir(p('sub'));
  await run('mknod', [p('gone1'), 'c', '0', '0']);
  await link(p('gone1'), p('gone2'));
  await link(p('gone1'), p('sub/gone3'));
  await mkdir(p('opq-in-lower'));
  await writeFile(p('opq-in-lower/kept'), 'new\n');
  await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', p('opq-in-lower')]);
  await mkdir(p('opq-new'));
  await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', p('opq-new')]);
  await run('setfattr', ['-n', 'trusted.overlay.origin', '-v', '0x00fb', p('d')]);
  await writeFile(p('old'), 'before SDE\n');
  await utimes(p('old'), 1500000000, 1500000000);
  await writeFile(p('future'), 'after SDE\n');
  await utimes(p('future'), SDE + 1000, SDE + 1000);
  await lutimes(p('d/l'), 1600000000, 1600000000);
}
