import { describe, expect, it } from 'vitest';
import { IbError } from '../errors.js';
import {
  MiB, PART_TYPE, defaultExt4Bytes, deriveUuid, deriveVolumeId, parseSize, partition, planLayout, sfdiskScript,
} from './layout.js';

const GiB = 1024 * MiB;

describe('partition type GUIDs', () => {
  it('are the ones firmware and systemd look for', () => {
    // sfdisk accepts any GUID, so a typo would only show as an unbootable disk.
    expect(PART_TYPE['bios-boot']).toBe('21686148-6449-6E6F-744E-656564454649');
    expect(PART_TYPE.esp).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(PART_TYPE.xbootldr).toBe('BC13C2FF-59E6-4262-A352-B275FD6F7172');
    expect(PART_TYPE.root).toBe('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709');
  });
});

describe('deriveUuid', () => {
  it('is deterministic, differs by seed and purpose, and is a well-formed v4-style UUID', () => {
    const a = deriveUuid('seed', 'fs:root');
    expect(a).toBe(deriveUuid('seed', 'fs:root'));
    expect(a).not.toBe(deriveUuid('seed2', 'fs:root'));
    expect(a).not.toBe(deriveUuid('seed', 'part:root'));
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
  it('gives 8 upper-case hex digits for FAT volume ids', () => {
    expect(deriveVolumeId('s', 'fs:esp')).toMatch(/^[0-9A-F]{8}$/);
  });
});

describe('parseSize', () => {
  it('reads binary units', () => {
    expect(parseSize('4G')).toBe(4 * GiB);
    expect(parseSize('1536M')).toBe(1536 * MiB);
    expect(parseSize('2GiB')).toBe(2 * GiB);
    expect(parseSize('1.5g')).toBe(1.5 * GiB);
    expect(parseSize('4096')).toBe(4096);
  });
  it('rejects nonsense with a usage error', () => {
    expect(() => parseSize('big')).toThrow('invalid size "big"');
  });
});

describe('planLayout', () => {
  const content = 700 * MiB;

  it('lays out BIOS-boot, ESP and root, 1 MiB aligned, in that order', () => {
    const l = planLayout({ seed: 's', boot: ['bios', 'uefi'], rootContentBytes: content });
    expect(l.partitions.map((p) => [p.number, p.role, p.start, p.sectors])).toEqual([
      [1, 'bios-boot', 2048, 2048],
      [2, 'esp', 4096, 262144],
      [3, 'root', 266240, defaultExt4Bytes(content) / 512],
    ]);
    const root = partition(l, 'root')!;
    expect(l.bytes).toBe((root.start + root.sectors) * 512 + MiB);
    expect(l.bytes % MiB).toBe(0);
    expect(root.fs).toMatchObject({ type: 'ext4', label: 'root' });
    expect(partition(l, 'esp')!.fs).toMatchObject({ type: 'vfat', label: 'ESP' });
  });

  it('leaves out what the firmware list does not need and adds XBOOTLDR on request', () => {
    const bios = planLayout({ seed: 's', boot: ['bios'], rootContentBytes: content });
    expect(bios.partitions.map((p) => p.role)).toEqual(['bios-boot', 'root']);
    const uefi = planLayout({ seed: 's', boot: ['uefi'], rootContentBytes: content, bootContentBytes: 100 * MiB });
    expect(uefi.partitions.map((p) => p.role)).toEqual(['esp', 'xbootldr', 'root']);
    expect(partition(uefi, 'xbootldr')!.typeGuid).toBe(PART_TYPE.xbootldr);
  });

  it('gives the root the rest of a requested size', () => {
    const l = planLayout({ seed: 's', boot: ['bios', 'uefi'], rootContentBytes: content, size: 4 * GiB });
    expect(l.bytes).toBe(4 * GiB);
    const root = partition(l, 'root')!;
    expect((root.start + root.sectors) * 512).toBe(4 * GiB - MiB);
  });

  it('refuses a size too small for the content, saying what would fit', () => {
    let err: unknown;
    try {
      planLayout({ seed: 's', boot: ['bios', 'uefi'], rootContentBytes: content, size: 512 * MiB });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IbError);
    expect((err as IbError).message).toBe('disk size 512 MiB is too small: the root filesystem needs at least 834 MiB for 700 MiB of content');
    expect((err as IbError).hint).toBe('use --size 965M or larger, or omit --size to size the disk from its content');
  });

  it('derives every identifier from the seed', () => {
    const a = planLayout({ seed: 'a', boot: ['bios', 'uefi'], rootContentBytes: content });
    const a2 = planLayout({ seed: 'a', boot: ['bios', 'uefi'], rootContentBytes: content });
    const b = planLayout({ seed: 'b', boot: ['bios', 'uefi'], rootContentBytes: content });
    expect(a2).toEqual(a);
    expect(b.diskGuid).not.toBe(a.diskGuid);
    expect(partition(b, 'root')!.fs!.uuid).not.toBe(partition(a, 'root')!.fs!.uuid);
    const ids = [a.diskGuid, ...a.partitions.map((p) => p.uuid), partition(a, 'root')!.fs!.uuid];
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('sfdiskScript', () => {
  it('writes a GPT script with fixed ids and exact sector ranges', () => {
    const l = planLayout({ seed: 's', boot: ['bios', 'uefi'], rootContentBytes: 100 * MiB });
    const s = sfdiskScript(l);
    expect(s.split('\n').slice(0, 5)).toEqual([
      'label: gpt', `label-id: ${l.diskGuid.toUpperCase()}`, 'unit: sectors', 'first-lba: 2048', 'sector-size: 512',
    ]);
    expect(s).toContain(`start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, uuid=${l.partitions[0]!.uuid.toUpperCase()}, name="BIOS boot"`);
    expect(s.trimEnd().split('\n')).toHaveLength(6 + 3);
  });
});
