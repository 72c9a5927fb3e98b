/**
 * Disk formats and growing: vmdk and vhd pass `qemu-img check` and the vhd boots; a 2 GiB raw
 * attached as a 4 GiB disk grows its root partition and filesystem on first boot.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDisk, imageInfo, MiB, partition } from '../../src/disk/index.js';
import { run } from '../../src/exec/run.js';
import { bootImage } from '../../src/vm/index.js';
import { baseTree } from '../helpers/base-tree.js';

const SDE = 1700000000;
const GiB = 1024 * MiB;
let tree: string;
let dir: string;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

beforeAll(async () => {
  tree = await baseTree();
  dir = await mkdtemp(join(tmpdir(), 'ib-disk-formats-'));
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('vmdk and vhd', () => {
  it('are clean for qemu-img check, reproducible, and the vhd boots with BIOS', async () => {
    const vmdk = await buildDisk({ tree, output: join(dir, 'm.vmdk'), format: 'vmdk', boot: ['bios'], seed: 'fmt', sourceDateEpoch: SDE });
    const vhd = await buildDisk({ tree, output: join(dir, 'm.vhd'), format: 'vhd', boot: ['bios'], seed: 'fmt', sourceDateEpoch: SDE });
    const vi = await imageInfo(vmdk.output);
    expect(vi.format).toBe('vmdk');
    expect(vi['format-specific']?.data).toMatchObject({ 'create-type': 'streamOptimized' });
    expect(vi['virtual-size']).toBe(vmdk.layout.bytes);
    const hi = await imageInfo(vhd.output);
    expect(hi.format).toBe('vpc');
    // Fixed VHD, exactly the layout's MiB-aligned size (force_size: no CHS rounding).
    expect(hi['virtual-size']).toBe(vhd.layout.bytes);
    expect(hi['virtual-size'] % MiB).toBe(0);
    expect(vhd.bytes).toBe(vhd.layout.bytes + 512);
    const check = await run('qemu-img', ['check', vmdk.output]);
    expect(check.stdout).toContain('No errors were found on the image.');
    // qemu puts a random CID in a VMDK and the clock and a random UUID in a VHD footer; ib fixes them.
    await mkdir(join(dir, 'again'));
    for (const [first, name] of [[vmdk, 'm.vmdk'], [vhd, 'm.vhd']] as const) {
      const again = await buildDisk({ tree, output: join(dir, 'again', name), format: first.format, boot: ['bios'], seed: 'fmt', sourceDateEpoch: SDE });
      const [a, b] = [await sha256File(first.output), await sha256File(again.output)];
      if (a !== b) {
        // Once seen in CI, never reproduced by hand: say whether the disk content or only the
        // container format differs, and where, so the next failure names its cause.
        const fmt = first.format === 'vhd' ? 'vpc' : first.format;
        const cmp = await run('qemu-img', ['compare', '-f', fmt, '-F', fmt, first.output, again.output], { allowFailure: true });
        const bytes = await run('sh', ['-c', `cmp -l "$0" "$1" | head -5; cmp -l "$0" "$1" | wc -l`, first.output, again.output], { allowFailure: true });
        expect.fail(`${name} differs between two builds: qemu-img compare: ${(cmp.stdout + cmp.stderr).trim()}; differing bytes (offset, octal a, b; count): ${bytes.stdout.trim()}`);
      }
    }
    const r = await bootImage({ image: vhd.output, firmware: 'bios', timeoutSec: 480, exec: 'findmnt -n -o UUID /' });
    expect(r.exec!.output.trim()).toBe(partition(vhd.layout, 'root')!.fs!.uuid);
    console.log(`vhd (bios): login after ${r.seconds.toFixed(1)} s`);
  }, 900_000);
});

describe('growing the root', () => {
  it('fills a larger disk on first boot (partition and filesystem)', async () => {
    const d = await buildDisk({ tree, output: join(dir, 'grow.raw'), format: 'raw', size: '2G', boot: ['uefi'], seed: 'grow', sourceDateEpoch: SDE });
    expect(d.layout.bytes).toBe(2 * GiB);
    await truncate(d.output, 4 * GiB);
    const r = await bootImage({
      image: d.output, firmware: 'uefi', timeoutSec: 480,
      exec: 'df -B1M --output=size / | tail -1; lsblk -b -n -o SIZE "$(findmnt -n -o SOURCE /)"; systemctl is-active systemd-repart systemd-growfs@-',
    });
    const [fsMiB, partBytes, repart, growfs] = r.exec!.output.trim().split('\n').map((s) => s.trim());
    console.log(`grow: fs ${fsMiB} MiB, partition ${partBytes} bytes, after ${r.seconds.toFixed(1)} s`);
    expect(Number(partBytes)).toBeGreaterThan(3.8 * GiB);
    expect(Number(fsMiB)).toBeGreaterThan(3700);
    expect([repart, growfs]).toEqual(['active', 'active']);
  }, 900_000);
});
