/**
 * Disks from a real Debian tree: a qcow2 booted under SeaBIOS and OVMF to `login:` (TCG), the
 * root found by UUID, byte-identical rebuilds, the input tree left untouched, and clear errors.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDisk, imageInfo, partition, type BuildDiskResult } from '../../src/disk/index.js';
import { IbError } from '../../src/errors.js';
import { BootError, bootImage } from '../../src/vm/index.js';
import { baseTree } from '../helpers/base-tree.js';

const SDE = 1700000000;
let tree: string;
let dir: string;
let qcow2: BuildDiskResult;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(p, { highWaterMark: 4 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

beforeAll(async () => {
  tree = await baseTree();
  dir = await mkdtemp(join(tmpdir(), 'ib-disk-e2e-'));
  qcow2 = await buildDisk({ tree, output: join(dir, 'minimal.qcow2'), format: 'qcow2', boot: ['bios', 'uefi'], seed: 'e2e-disk', sourceDateEpoch: SDE });
}, 600_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('classic qcow2 of the minimal tree', () => {
  it('is a qcow2 holding the planned layout', async () => {
    const info = await imageInfo(qcow2.output);
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(qcow2.layout.bytes);
    expect(qcow2.layout.partitions.map((p) => p.role)).toEqual(['bios-boot', 'esp', 'root']);
    expect(qcow2.kernel!.kernel).toMatch(/^\/boot\/vmlinuz-/);
    expect(existsSync(join(dir, `.minimal.qcow2.ib-${process.pid}.raw`))).toBe(false);
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it(`boots with ${firmware} to login: and mounts the root by UUID`, async () => {
      const rootUuid = partition(qcow2.layout, 'root')!.fs!.uuid;
      const r = await bootImage({
        image: qcow2.output, firmware, timeoutSec: 480, accel: 'auto',
        exec: 'cat /proc/cmdline; findmnt -n -o UUID /; findmnt -n -o SOURCE /; test -w /',
      });
      expect(r.matched).toBe('login:');
      expect(r.accel).toBe('tcg');
      const [cmdline, uuid, source] = r.exec!.output.trim().split('\n');
      expect(cmdline).toContain(`root=UUID=${rootUuid} ro console=tty0 console=ttyS0,115200n8`);
      expect(uuid).toBe(rootUuid);
      expect(source).toMatch(/^\/dev\/vda\d$/);
      expect(r.exec!.exitCode).toBe(0);
      console.log(`${firmware}: login after ${r.seconds.toFixed(1)} s`);
    }, 600_000);
  }
});

describe('reproducibility', () => {
  it('gives a byte-identical raw disk for the same tree and seed', async () => {
    const a = await buildDisk({ tree, output: join(dir, 'a.raw'), format: 'raw', seed: 'repro', sourceDateEpoch: SDE });
    const b = await buildDisk({ tree, output: join(dir, 'b.raw'), format: 'raw', seed: 'repro', sourceDateEpoch: SDE });
    const [ha, hb] = await Promise.all([sha256File(a.output), sha256File(b.output)]);
    console.log(`raw ${a.bytes} bytes, sha256 ${ha}, built in ${a.seconds.toFixed(1)} s and ${b.seconds.toFixed(1)} s`);
    expect(hb).toBe(ha);
    const c = await buildDisk({ tree, output: join(dir, 'c.raw'), format: 'raw', seed: 'other', sourceDateEpoch: SDE });
    expect(await sha256File(c.output)).not.toBe(ha);
    await rm(a.output);
    await rm(b.output);
    await rm(c.output);
  }, 300_000);
});

/**
 * Everything `lstat` says about the given entries, times to the nanosecond. It never lists a
 * directory: a readdir would itself update the atimes this test watches.
 */
async function snapshot(root: string, paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of ['.', ...paths]) {
    const st = await lstat(join(root, p), { bigint: true });
    out.push(`${p} ${st.mode} ${st.uid}:${st.gid} ${st.size} a${st.atimeNs} m${st.mtimeNs} c${st.ctimeNs} ${st.ino}`);
  }
  return out;
}

const TINY_PATHS = ['boot', 'etc', 'etc/fstab', 'usr', 'usr/bin', 'usr/bin/tool', 'bin', 'longlink'];
const TINY_KERNEL = ['boot/vmlinuz-6.1.0-1-amd64', 'boot/initrd.img-6.1.0-1-amd64'];

/** A tree small enough to build in a second, with what the staging overlay touches (etc, boot). */
async function tinyTree(withKernel: boolean): Promise<string> {
  const t = await mkdtemp(join(tmpdir(), 'ib-tiny-tree-'));
  await mkdir(join(t, 'boot'));
  await mkdir(join(t, 'etc'));
  await mkdir(join(t, 'usr/bin'), { recursive: true });
  await writeFile(join(t, 'etc/fstab'), '# old\n');
  await writeFile(join(t, 'usr/bin/tool'), 'x'.repeat(10000));
  await symlink('usr/bin', join(t, 'bin'));
  await symlink('/a/target/longer/than/sixty/characters/so/it/needs/a/block/of/its/own', join(t, 'longlink'));
  if (withKernel) {
    const k = Buffer.alloc(4096);
    k.write('HdrS', 0x202, 'latin1');
    await writeFile(join(t, 'boot/vmlinuz-6.1.0-1-amd64'), k);
    await writeFile(join(t, 'boot/initrd.img-6.1.0-1-amd64'), 'initrd');
  }
  return t;
}

describe('the input tree', () => {
  it('is not modified by a build, not even its atimes', async () => {
    // A fresh tree: ctime is now, so under relatime the first read would update every atime.
    const t = await tinyTree(true);
    const paths = [...TINY_PATHS, ...TINY_KERNEL];
    const before = await snapshot(t, paths);
    const r = await buildDisk({ tree: t, output: join(dir, 'tiny.raw'), seed: 'tiny', sourceDateEpoch: SDE });
    expect(r.layout.partitions.at(-1)!.role).toBe('root');
    expect(await snapshot(t, paths)).toEqual(before);
    expect(await readlink(join(t, 'bin'))).toBe('usr/bin');
    await rm(t, { recursive: true });
  }, 120_000);
});

describe('bad input', () => {
  async function failure(p: Promise<unknown>): Promise<IbError> {
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(IbError);
    return e as IbError;
  }

  it('a tree without a kernel: a clear error and no output', async () => {
    const t = await tinyTree(false);
    const out = join(dir, 'nokernel.qcow2');
    const e = await failure(buildDisk({ tree: t, output: out, format: 'qcow2', seed: 's', sourceDateEpoch: SDE }));
    expect(e.message).toBe(`no kernel found in ${t} (looked for /boot/vmlinuz-* and /usr/lib/modules/*/vmlinuz)`);
    expect(e.hint).toBe("install a kernel in the image, e.g. add linux-image-amd64 to the recipe's packages");
    expect(existsSync(out)).toBe(false);
    await rm(t, { recursive: true });
  });

  it('a size too small for the tree: a clear error and nothing left behind', async () => {
    const out = join(dir, 'small.raw');
    const e = await failure(buildDisk({ tree, output: out, size: '512M', seed: 's', sourceDateEpoch: SDE }));
    expect(e.message).toMatch(/^disk size 512 MiB is too small: the root filesystem needs at least \d+ MiB for \d+ MiB of content$/);
    expect(e.hint).toMatch(/^use --size \d+M or larger, or omit --size to size the disk from its content$/);
    expect((await readdir(dir)).filter((n) => n.startsWith('.small.raw') || n === 'small.raw')).toEqual([]);
  });

  it('a disk that does not boot: ib boot gives up at the timeout, naming the log', async () => {
    const blank = join(dir, 'blank.raw');
    await writeFile(blank, Buffer.alloc(1024 * 1024));
    const e = await failure(bootImage({ image: blank, firmware: 'bios', timeoutSec: 10 }));
    expect(e).toBeInstanceOf(BootError);
    expect(e.message.split('\n')[0]).toBe(`${blank} did not reach "login:" within 10 s`);
    expect(e.message).toContain(`--- last 40 lines of the console (full log: ${(e as BootError).log}) ---`);
    expect(existsSync((e as BootError).log)).toBe(true);
  }, 60_000);

  it('an unknown format is a usage error listing the valid ones', async () => {
    const e = await failure(buildDisk({ tree, output: join(dir, 'x.img'), format: 'vdi', seed: 's', sourceDateEpoch: SDE }));
    expect(e.message).toBe('unsupported disk format "vdi", valid formats are raw, qcow2, vmdk, vhd');
    expect(e.exitCode).toBe(2);
  });
});
