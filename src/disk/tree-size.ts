/**
 * How much an ext4 filesystem needs to hold a tree: data in 4 KiB blocks, directories at their
 * size, symlinks longer than 59 bytes in a block, each hardlinked inode once. `du` would count the
 * source filesystem's allocation instead (holes, inline data, another block size).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const BLOCK = 4096;
/** ext4 keeps symlink targets shorter than 60 bytes inside the inode. */
const FAST_SYMLINK_MAX = 59;

export interface TreeSize {
  /** Bytes of blocks the content occupies in ext4 (without journal and inode tables). */
  bytes: number;
  inodes: number;
}

const blocks = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

export async function measureTree(root: string): Promise<TreeSize> {
  let bytes = 0;
  let inodes = 0;
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const p = join(dir, e.name);
      const st = await lstat(p);
      if (st.nlink > 1 && !st.isDirectory()) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      inodes++;
      if (st.isDirectory()) {
        bytes += Math.max(BLOCK, blocks(st.size));
        await walk(p);
      } else if (st.isFile()) bytes += blocks(st.size);
      else if (st.isSymbolicLink() && st.size > FAST_SYMLINK_MAX) bytes += BLOCK;
    }
  };
  const rootSt = await lstat(root);
  bytes += Math.max(BLOCK, blocks(rootSt.size));
  inodes++;
  await walk(root);
  return { bytes, inodes };
}
