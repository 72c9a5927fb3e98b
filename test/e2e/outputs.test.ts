/**
 * A recipe's `outputs:` are made by `ib build` itself: here a derived recipe with a raw disk
 * output — the image and the disk come out of one command, and the disk's table is GPT with
 * BIOS-boot, ESP and root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';

const base = inject('baseImage');
const work = mkdtempSync('/var/tmp/ib-e2e-outputs-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('recipe outputs', () => {
  it('ib build makes the disk the recipe asks for', async () => {
    const recipe = join(work, 'with-disk.yaml');
    writeFileSync(recipe, [
      'name: test/with-disk',
      `from: ${base.tag}`,
      'files:',
      '  - {path: /etc/motd, content: "made by ib\\n", mode: "0644"}',
      'outputs:',
      '  disk: {format: raw, boot: [bios, uefi], output: with-disk.raw}',
      '',
    ].join('\n'));
    const r = await ibOk(['--json', 'build', recipe], { cacheDir: base.cacheDir, cwd: work });
    expect(r.events.some((e) => e.event === 'info' && String(e.message).startsWith('output disk:'))).toBe(true);
    const disk = join(work, 'with-disk.raw');
    expect(existsSync(disk)).toBe(true);
    const table = JSON.parse(execFileSync('sfdisk', ['--json', disk], { encoding: 'utf8' })) as { partitiontable: { label: string; partitions: { type: string }[] } };
    expect(table.partitiontable.label).toBe('gpt');
    expect(table.partitiontable.partitions.map((p) => p.type)).toEqual([
      '21686148-6449-6E6F-744E-656564454649',
      'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
      '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
    ]);
    // Without outputs the same build is a cache hit and writes no disk.
    rmSync(disk);
    const again = await ibOk(['--json', 'build', recipe, '--no-outputs'], { cacheDir: base.cacheDir, cwd: work });
    expect(again.events.filter((e) => e.event === 'step-started')).toEqual([]);
    expect(existsSync(disk)).toBe(false);
  });
});
