import { describe, expect, it } from 'vitest';
import { fatSectorsPerCluster, usedInodes } from './filesystems.js';

const DUMP = `Filesystem volume name:   root
Inode count:              24
Free inodes:              15
Inodes per group:         8
First inode:              11
Group 0: (Blocks 0-32767) csum 0xc17d
  Free inodes: 
Group 1: (Blocks 32768-65535) csum 0x3261
  Free inodes: 13-14, 16
Group 2: (Blocks 65536-98303) csum 0x49f7 [INODE_UNINIT]
  Free inodes: 17-24
`;

describe('usedInodes', () => {
  it('is the root dir plus every allocated inode past the reserved ones', () => {
    expect(usedInodes(DUMP)).toEqual([2, 11, 12, 15]);
  });
  it('refuses output it does not understand', () => {
    expect(() => usedInodes('Inode count: 8\n')).toThrow('dumpe2fs output has no "Inodes per group"');
  });
});

describe('fatSectorsPerCluster', () => {
  it('follows the FAT32 table', () => {
    expect(fatSectorsPerCluster(128 * 1024 * 1024)).toBe(1);
    expect(fatSectorsPerCluster(512 * 1024 * 1024)).toBe(8);
  });
});
