/**
 * Live ISOs from a tree with live-boot: booted as a CD-ROM under SeaBIOS and OVMF to `login:`,
 * the live system on a writable overlay, byte-identical rebuilds, and clear errors for trees that
 * cannot boot live.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IbError } from '../../src/errors.js';
import { buildIso, type BuildIsoResult } from '../../src/iso/index.js';
import { bootImage } from '../../src/vm/index.js';
import { liveTree } from '../helpers/live-tree.js';

const SDE = 1700000000;
let tree: string;
let dir: string;
let iso: BuildIsoResult;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

beforeAll(async () => {
  tree = await liveTree();
  dir = await mkdtemp(join(tmpdir(), 'ib-iso-e2e-'));
  iso = await buildIso({ tree, output: join(dir, 'live.iso'), label: 'IB_TEST_LIVE', sourceDateEpoch: SDE });
  console.log(`iso ${iso.bytes} bytes (squashfs ${iso.squashfsBytes}) in ${iso.seconds.toFixed(1)} s`);
}, 1_800_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('live ISO as a CD-ROM', () => {
  it('boots with BIOS into the live system on a writable overlay', async () => {
    const r = await bootImage({
      image: iso.output, firmware: 'bios', media: 'cdrom', timeoutSec: 700,
      exec: 'cat /proc/cmdline; findmnt -n -o FSTYPE /; echo written > /root/probe && cat /root/probe; findmnt -n -o FSTYPE /run/live/rootfs/filesystem.squashfs',
    });
    console.log(`iso bios: login after ${r.seconds.toFixed(1)} s`);
    const lines = r.exec!.output.trim().split('\n');
    expect(lines[0]).toBe('BOOT_IMAGE=/live/vmlinuz boot=live console=tty0 console=ttyS0,115200n8');
    expect(lines.slice(1)).toEqual(['overlay', 'written', 'squashfs']);
    expect(r.exec!.exitCode).toBe(0);
  }, 900_000);

  it('boots with UEFI to login:', async () => {
    const r = await bootImage({ image: iso.output, firmware: 'uefi', media: 'cdrom', timeoutSec: 700, exec: 'test -d /sys/firmware/efi && echo efi' });
    console.log(`iso uefi: login after ${r.seconds.toFixed(1)} s`);
    expect(r.matched).toBe('login:');
    expect(r.exec!.output.trim()).toBe('efi');
  }, 900_000);
});

describe('live ISO as a disk (written to a USB stick)', () => {
  for (const firmware of ['bios', 'uefi'] as const) {
    it(`boots with ${firmware} from the hybrid MBR/GPT`, async () => {
      const r = await bootImage({ image: iso.output, firmware, media: 'disk', timeoutSec: 700, exec: 'findmnt -n -o FSTYPE /' });
      console.log(`iso as disk ${firmware}: login after ${r.seconds.toFixed(1)} s`);
      expect(r.exec!.output.trim()).toBe('overlay');
    }, 900_000);
  }
});

describe('reproducibility', () => {
  it('gives a byte-identical ISO for the same tree', async () => {
    const again = await buildIso({ tree, output: join(dir, 'again.iso'), label: 'IB_TEST_LIVE', sourceDateEpoch: SDE });
    expect(await sha256File(again.output)).toBe(await sha256File(iso.output));
    expect(again.marker).toBe(iso.marker);
    await rm(again.output);
  }, 1_800_000);
});

describe('bad input', () => {
  async function tiny(opts: { arch: 'x86' | 'arm64'; liveBoot: boolean }): Promise<string> {
    const t = await mkdtemp(join(tmpdir(), 'ib-iso-tiny-'));
    await mkdir(join(t, 'boot'));
    const k = Buffer.alloc(4096);
    if (opts.arch === 'x86') k.write('HdrS', 0x202, 'latin1');
    else k.write('ARM\x64', 0x38, 'latin1');
    await writeFile(join(t, 'boot/vmlinuz-6.1.0-1'), k);
    await writeFile(join(t, 'boot/initrd.img-6.1.0-1'), 'initrd');
    if (opts.liveBoot) {
      await mkdir(join(t, 'usr/share/initramfs-tools/scripts'), { recursive: true });
      await writeFile(join(t, 'usr/share/initramfs-tools/scripts/live'), '#!/bin/sh\n');
    }
    return t;
  }

  async function failure(p: Promise<unknown>): Promise<IbError> {
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(IbError);
    return e as IbError;
  }

  it('a tree without live-boot', async () => {
    const t = await tiny({ arch: 'x86', liveBoot: false });
    const out = join(dir, 'nolive.iso');
    const e = await failure(buildIso({ tree: t, output: out, sourceDateEpoch: SDE }));
    expect(e.message).toBe(`${t} has no live-boot: a live ISO needs an initramfs that can find and mount the squashfs`);
    expect(e.hint).toBe('install live-boot in the image (apt-get install live-boot rebuilds the initramfs), or let `ib iso` add it as a derived layer');
    expect(existsSync(out)).toBe(false);
    await rm(t, { recursive: true });
  });

  it('a tree of another architecture', async () => {
    const t = await tiny({ arch: 'arm64', liveBoot: true });
    const e = await failure(buildIso({ tree: t, output: join(dir, 'arm.iso'), sourceDateEpoch: SDE }));
    expect(e.message).toBe('the kernel /boot/vmlinuz-6.1.0-1 is an arm64 kernel; ib makes x86-64 media');
    expect(e.hint).toBe('build or pull the linux/amd64 variant of the image (--platform linux/amd64)');
    await rm(t, { recursive: true });
  });

  it('a bad label is a usage error', async () => {
    const e = await failure(buildIso({ tree, output: join(dir, 'x.iso'), label: 'my live', sourceDateEpoch: SDE }));
    expect(e.message).toBe('invalid ISO label "my live"');
    expect(e.exitCode).toBe(2);
  });
});
