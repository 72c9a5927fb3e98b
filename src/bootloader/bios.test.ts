import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { patchBiosImages } from './bios.js';

const bootImg = readFileSync('/usr/lib/grub/i386-pc/boot.img');

/** A stand-in core.img: 3 sectors and a bit, with diskboot's default blocklist segment. */
function fakeCore(): Buffer {
  const core = Buffer.alloc(3 * 512 + 100, 0xab);
  core.writeUInt16LE(0x820, 510);
  return core;
}

function protectiveMbr(): Buffer {
  const mbr = Buffer.alloc(512);
  mbr.writeUInt32LE(0xdeadbeef, 0x1b8); // disk signature
  mbr[0x1be + 4] = 0xee; // protective GPT entry
  mbr.writeUInt16LE(0xaa55, 0x1fe);
  mbr.fill(0x11, 0x03, 0x5a); // a BPB that must survive
  return mbr;
}

describe('patchBiosImages', () => {
  it('points boot.img at core.img and core.img at its own remaining sectors', () => {
    const { mbr, core } = patchBiosImages(protectiveMbr(), bootImg, fakeCore(), 2048);
    expect(core.length).toBe(4 * 512);
    expect(core.readBigUInt64LE(500)).toBe(2049n);
    expect(core.readUInt16LE(508)).toBe(3);
    expect(core.readUInt16LE(510)).toBe(0x820);
    expect(mbr.readBigUInt64LE(0x5c)).toBe(2048n);
    expect(mbr[0x64]).toBe(0xff);
    expect([mbr[0x66], mbr[0x67]]).toEqual([0x90, 0x90]);
  });

  it('keeps the BPB, the disk signature and the partition table of the existing MBR', () => {
    const before = protectiveMbr();
    const { mbr } = patchBiosImages(before, bootImg, fakeCore(), 2048);
    expect(mbr.subarray(0x03, 0x5a)).toEqual(before.subarray(0x03, 0x5a));
    expect(mbr.subarray(0x1b8)).toEqual(before.subarray(0x1b8));
    expect(mbr.subarray(0, 3)).toEqual(bootImg.subarray(0, 3));
    expect(mbr.subarray(0x68, 0x1b8)).toEqual(bootImg.subarray(0x68, 0x1b8));
  });

  it('refuses something that is not a GRUB core image', () => {
    expect(() => patchBiosImages(protectiveMbr(), bootImg, Buffer.alloc(1024), 2048))
      .toThrow('core.img does not look like a GRUB i386-pc image (no diskboot blocklist)');
  });
});
