import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../exec/run.js';
import { readXattrsTree } from '../exec/xattr.js';
import { kindOf, walkTree } from './layer-entry.js';
import { materializeLayers } from './materialize.js';
import { kernelHasOverlay, overlaySupported } from './overlay-support.js';

/**
 * Everything `cp -a` of a mounted overlay keeps, per entry: kind, mode, owner, content, link
 * target, device number, xattrs, mtime to the nanosecond, and which hard-link group it is in.
 */
async function listing(dir: string): Promise<string[]> {
  const x = await readXattrsTree(dir);
  const groups = new Map<bigint, string>();
  const out: string[] = [];
  for (const [rel, st] of walkTree(dir).stats) {
    const p = rel === '' ? dir : join(dir, rel);
    const big = lstatSync(p, { bigint: true });
    const kind = kindOf(st);
    let what = '';
    if (kind === 'file') what = createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 12);
    if (kind === 'symlink') what = `-> ${readlinkSync(p)}`;
    if (kind === 'char' || kind === 'block' || kind === 'whiteout') what = `rdev=${st.rdev}`;
    let link = '';
    if (kind !== 'dir' && st.nlink > 1) {
      link = ` link=${groups.get(big.ino) ?? rel}`;
      if (!groups.has(big.ino)) groups.set(big.ino, rel);
    }
    const xs = Object.entries(x.get(rel) ?? {}).map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
    // The root's own times are those of the dir the caller made; everything below is compared.
    const time = rel === '' ? '' : ` @${big.mtimeNs}`;
    out.push(`${rel || '.'} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}${link}${time} ${xs}`.trimEnd());
  }
  return out;
}

/** Three layer dirs in overlay upper-dir form, each kind of hiding overlayfs does. */
async function makeLayers(tmp: string): Promise<string[]> {
  const [l1, l2, l3] = ['l1', 'l2', 'l3'].map((n) => join(tmp, n));
  await run('sh', ['-ec', `
    mkdir -p ${l1} ${l2} ${l3}
    cd ${l1}
    mkdir -p etc usr/bin dev opq gone/deep kind xd lib/sub
    echo ab > etc/a; ln etc/a etc/b; echo keep > etc/keep
    cp /usr/bin/true usr/bin/ping; setcap cap_net_raw+ep usr/bin/ping
    echo su > usr/bin/su; chown 5:6 usr/bin/su; chmod 4755 usr/bin/su
    mknod -m 666 dev/null c 1 3; mknod dev/loop0 b 7 0; mkfifo dev/fifo
    echo x > opq/x; echo y > opq/y; setfattr -n user.keep -v 1 opq
    echo g > gone/deep/g
    echo k > kind/k; echo plain > tofile
    setfattr -n user.a -v 1 xd; setfattr -n user.b -v 2 xd
    ln -s sub lib/alias; echo s > lib/sub/s
    cd ${l2}
    mkdir -p etc opq tofile lib xd sub
    echo new-a > etc/a
    echo z > opq/z; setfattr -n trusted.overlay.opaque -v y opq
    mknod -m 000 gone c 0 0; ln gone etc/keep
    echo now-a-file > kind
    echo t > tofile/t
    mkdir lib/alias; echo real > lib/alias/r
    setfattr -n user.a -v 1 xd; setfattr -n trusted.overlay.impure -v y xd
    echo h > sub/h1; ln sub/h1 sub/h2
    cd ${l3}
    mkdir -p gone etc
    echo back > gone/b; setfattr -n trusted.overlay.origin -v 0x00 gone
    echo c > etc/c
    find ${l1} ${l2} ${l3} -mindepth 1 -exec touch -h -d @1600000000.123456789 {} +
    touch -h -d @1600000100.5 ${l2}/etc/a ${l2}/opq ${l3}/gone
  `]);
  return [l3!, l2!, l1!];
}

describe('materializeLayers', () => {
  let tmp: string;
  let lowers: string[];
  let got: string[];
  let want: string[];
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ib-materialize-'));
    lowers = await makeLayers(tmp);
    const out = join(tmp, 'out');
    const stats = await materializeLayers(lowers, out);
    expect(stats).toEqual({ layers: 3, hidden: 6 });
    got = await listing(out);
    // The oracle: what the kernel's overlayfs shows, copied out as `ib export` does with overlay.
    const merged = join(tmp, 'merged');
    const oracle = join(tmp, 'oracle');
    await mkdir(merged);
    await mkdir(oracle);
    await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
      mount -t overlay overlay -o ro,lowerdir=${lowers.join(':')},redirect_dir=off,metacopy=off,index=off,xino=off ${merged}
      cp -a ${merged}/. ${oracle}/
    `]);
    want = await listing(oracle);
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('gives exactly the tree a mounted overlay gives (content, owners, modes, xattrs, ns mtimes, hard links)', () => {
    expect(want.length).toBeGreaterThan(25);
    expect(got).toEqual(want);
  });

  it('applies whiteouts, opaque dirs and kind changes', () => {
    const names = got.map((l) => l.split(' ')[0]);
    expect(names).not.toContain('gone/deep');
    expect(names).not.toContain('etc/keep');
    expect(got.filter((l) => l.startsWith('opq/')).map((l) => l.split(' ')[0])).toEqual(['opq/z']);
    expect(got.find((l) => l.startsWith('kind '))).toMatch(/^kind file /);
    expect(got.find((l) => l.startsWith('tofile '))).toMatch(/^tofile dir /);
    expect(got.find((l) => l.startsWith('lib/alias '))).toMatch(/^lib\/alias dir /);
    expect(got.find((l) => l.startsWith('gone/b '))).toMatch(/^gone\/b file /);
  });

  it('leaves no whiteout devices and no trusted.overlay xattrs; drops an xattr a higher layer removed', () => {
    expect(got.filter((l) => / whiteout /.test(l))).toEqual([]);
    expect(got.filter((l) => l.includes('trusted.overlay.'))).toEqual([]);
    expect(got.find((l) => l.startsWith('xd '))).toMatch(/ user\.a=31$/);
  });

  it('keeps file capabilities, setuid, devices and hard links; a replaced link leaves its partner alone', () => {
    expect(got.find((l) => l.startsWith('usr/bin/ping '))).toMatch(/ security\.capability=0100000200200000000000000000000000000000$/);
    expect(got.find((l) => l.startsWith('usr/bin/su '))).toMatch(/^usr\/bin\/su file 4755 5:6 /);
    expect(got.find((l) => l.startsWith('dev/null '))).toContain('char 666 0:0 rdev=259');
    expect(got.find((l) => l.startsWith('dev/loop0 '))).toContain('block');
    expect(got.find((l) => l.startsWith('dev/fifo '))).toContain('fifo');
    expect(got.find((l) => l.startsWith('sub/h2 '))).toContain('link=sub/h1');
    expect(readFileSync(join(tmp, 'out/etc/a'), 'utf8')).toBe('new-a\n');
    expect(readFileSync(join(tmp, 'out/etc/b'), 'utf8')).toBe('ab\n');
    expect(lstatSync(join(tmp, 'out/etc/b')).nlink).toBe(1);
    // The layers themselves are untouched: the copy shares no inode with them.
    expect(readFileSync(join(lowers[2]!, 'etc/b'), 'utf8')).toBe('ab\n');
    expect(lstatSync(join(lowers[2]!, 'etc/a')).nlink).toBe(2);
  });

  it('a write into the copy never reaches a layer', async () => {
    writeFileSync(join(tmp, 'out/etc/b'), 'changed\n');
    expect(readFileSync(join(lowers[2]!, 'etc/a'), 'utf8')).toBe('ab\n');
  });

  it('refuses a non-empty target', async () => {
    const busy = join(tmp, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'x'), '');
    await expect(materializeLayers(lowers, busy)).rejects.toThrow(`${busy} is not empty`);
  });
});

describe('overlaySupported', () => {
  it('is off when IB_OVERLAY=off, whatever the kernel has', () => {
    expect(overlaySupported({ IB_OVERLAY: 'off' })).toBe(false);
  });

  it('reads /proc/filesystems, then looks for the module', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'ib-ovl-'));
    try {
      await writeFile(join(tmp, 'with'), 'nodev\tsysfs\n\text4\nnodev\toverlay\n');
      await writeFile(join(tmp, 'without'), 'nodev\tsysfs\n\text4\nnodev\toverlayx\n');
      expect(kernelHasOverlay(join(tmp, 'with'), join(tmp, 'nomodules'))).toBe(true);
      expect(kernelHasOverlay(join(tmp, 'without'), join(tmp, 'nomodules'))).toBe(false);
      expect(kernelHasOverlay(join(tmp, 'missing'), join(tmp, 'nomodules'))).toBe(false);
      await mkdir(join(tmp, 'mods/kernel/fs/overlayfs'), { recursive: true });
      await writeFile(join(tmp, 'mods/kernel/fs/overlayfs/overlay.ko.xz'), '');
      expect(kernelHasOverlay(join(tmp, 'without'), join(tmp, 'mods'))).toBe(true);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
