import { describe, expect, it } from 'vitest';
import { fixVhdFooterBytes, formatFromName, parseFormat } from './image.js';

describe('fixVhdFooterBytes', () => {
  it('sets the timestamp and UUID from the seed and keeps the checksum valid', () => {
    const footer = Buffer.alloc(512);
    footer.write('conectix', 0, 'latin1');
    footer.fill(0xaa, 68, 84);
    fixVhdFooterBytes(footer, 'seed', 1700000000);
    expect(footer.readUInt32BE(24)).toBe(1700000000 - 946684800);
    let sum = 0;
    for (let i = 0; i < 512; i++) if (i < 64 || i >= 68) sum += footer[i]!;
    expect(footer.readUInt32BE(64)).toBe(~sum >>> 0);
    const again = Buffer.alloc(512);
    again.write('conectix', 0, 'latin1');
    fixVhdFooterBytes(again, 'seed', 1700000000);
    expect(again.subarray(68, 84)).toEqual(footer.subarray(68, 84));
    expect(() => fixVhdFooterBytes(Buffer.alloc(512), 's', 0)).toThrow('not a VHD footer');
  });
});

describe('formats', () => {
  it('names qemu formats and refuses unknown ones', () => {
    expect(formatFromName('/x/a.VHD')).toBe('vpc');
    expect(formatFromName('/x/a.qcow2')).toBeUndefined();
    expect(parseFormat('vmdk')).toBe('vmdk');
    expect(() => parseFormat('vdi')).toThrow('unsupported disk format "vdi", valid formats are raw, qcow2, vmdk, vhd');
  });
});
