/**
 * The boot matrix row "classic raw of a derived image", through the CLI as a user runs it:
 * `ib derive from BASE --install htop` → `ib disk -o htop.raw` → `ib boot --exec` under SeaBIOS
 * and OVMF. The derived layer (htop and its libraries) must be in the booted system.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { imageInfo } from '../../src/disk/index.js';
import { ibOk } from '../helpers/ib.js';

const base = inject('baseImage');
const work = mkdtempSync('/var/tmp/ib-e2e-disk-derived-');
const disk = join(work, 'htop.raw');
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  const opts = { cacheDir: base.cacheDir };
  await ibOk(['derive', 'from', base.tag, '--install', 'htop', '--tag', 'test/disk-htop:1'], opts);
  await ibOk(['disk', 'test/disk-htop:1', '-o', disk], opts);
}, 1_200_000);

describe('classic raw disk of a derived image', () => {
  it('is a raw GPT disk', async () => {
    const info = await imageInfo(disk);
    expect(info.format).toBe('raw');
    expect(info['virtual-size']).toBe(statSync(disk).size);
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`boots with ${firmware} and runs the derived package`, async () => {
      const r = await ibOk(['boot', disk, '--firmware', firmware, '--timeout', '900', '--exec',
        'htop --version | head -n 1; dpkg -s htop | grep ^Status; findmnt -n -o FSTYPE /'], { cacheDir: base.cacheDir });
      console.log(`derived raw (${firmware}): ${r.seconds.toFixed(1)} s`);
      expect(r.stdout).toMatch(/^htop 3\.\d+\.\d+/m);
      expect(r.stdout).toContain('Status: install ok installed');
      expect(r.stdout).toMatch(/^ext4$/m);
    }, 1_200_000);
  }
});
