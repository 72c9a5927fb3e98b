import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../exec/run.js';
import { readXattrsTree } from '../exec/xattr.js';
import { captureUpper, type CaptureStats } from './capture.js';
import { kindOf, walkTree } from './layer-entry.js';
import { scanDiff } from './scan-diff.js';

const OLD = 1600000000;
/** In the future, so mtime differences survive clamping and "touched" files count as changed. */
const SDE = 2000000000;

/** type, mode, owner, size, sha256, link target, xattrs of every entry: what a layer dir says. */
async function listing(dir: string, opts: { content?: boolean; mtime?: boolean } = {}): Promise<string[]> {
  const x = await readXattrsTree(dir);
  const out: string[] = [];
  for (const [rel, st] of walkTree(dir).stats) {
    const p = rel === '' ? dir : join(dir, rel);
    const kind = kindOf(st);
    let what = '';
    if (kind === 'file') {
      const data = readFileSync(p);
      what = opts.content ? JSON.stringify(data.toString()) : `${st.size} ${createHash('sha256').update(data).digest('hex')}`;
    }
    if (kind === 'symlink') what = `-> ${readlinkSync(p)}`;
    if (kind === 'char' || kind === 'block') what = `rdev=${st.rdev}`;
    const xs = Object.entries(x.get(rel) ?? {}).map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
    // Kept from a lower (OLD) or made by the step (when exactly depends on the second it ran).
    if (opts.mtime && kind !== 'whiteout') what += Math.floor(st.mtimeMs / 1000) < 1700000000 ? ` @${Math.floor(st.mtimeMs / 1000)}` : ' @new';
    out.push(`${rel || '.'} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what} ${xs}`.trimEnd());
  }
  return out;
}

/** Two layer dirs: L1 (bottom) and L2 (top, with a whiteout and an opaque dir). */
async function makeLowers(tmp: string): Promise<{ l1: string; l2: string }> {
  const l1 = join(tmp, 'l1');
  const l2 = join(tmp, 'l2');
  await run('sh', ['-ec', `
    mkdir -p ${l1} ${l2} && cd ${l1}
    mkdir -p etc opt/app usr/bin var/lib/apt/lists/partial var/log var/lib/dpkg gone/dir shadowed
    echo base > etc/hostname; echo same > etc/keep.conf; echo old > etc/mod.conf; echo 'touch me' > etc/touch.conf
    echo bye > etc/del.conf; echo x > etc/mode.conf; ln -s target1 etc/link
    echo a > opt/app/a; echo b > opt/app/b; echo c > opt/app/c
    printf '#!/bin/sh\\n' > usr/bin/tool; chmod 755 usr/bin/tool; setfattr -n user.test -v 1 usr/bin/tool
    echo lists > var/lib/apt/lists/deb_list; echo 'old log' > var/log/dpkg.log; echo s > var/lib/dpkg/status
    echo x > gone/dir/x; echo f1 > shadowed/f1
    cd ${l2}
    mkdir etc shadowed; echo l2 > etc/l2.conf; echo f2 > shadowed/f2
    setfattr -n trusted.overlay.opaque -v y shadowed; mknod -m 000 gone c 0 0
    find ${l1} ${l2} -exec touch -h -d @${OLD} {} +
  `]);
  return { l1, l2 };
}

/** The step: one of each kind of change overlayfs records differently. $S is scratch space. */
const CHANGES = `
  echo new > etc/new.conf
  echo changed > etc/mod.conf
  cp -p etc/touch.conf "$S/t" && cp -p "$S/t" etc/touch.conf
  rm etc/del.conf
  chmod 600 etc/mode.conf
  ln -sfn target2 etc/link
  cp -p opt/app/a "$S/a" && rm -rf opt/app && mkdir opt/app && cp -p "$S/a" opt/app/a && echo d > opt/app/d
  mkdir newd.tmp && echo f > newd.tmp/f && mv newd.tmp newd
  setfattr -n user.test -v 2 usr/bin/tool
  echo more > var/lib/apt/lists/other_list && rm var/lib/apt/lists/deb_list
  echo 'new log' >> var/log/dpkg.log
  echo 0123456789abcdef0123456789abcdef > etc/machine-id
  echo f3 > shadowed/f3
  mkdir gone && echo z > gone/z
  mkdir ephemeral && touch ephemeral/x && rm -r ephemeral
  touch usr/bin/created-and-deleted && rm usr/bin/created-and-deleted
`;

async function overlayStep(tmp: string, lowers: string[], name: string): Promise<string> {
  const d = join(tmp, name);
  for (const s of ['u', 'w', 'm', 's']) await mkdir(join(d, s), { recursive: true });
  await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
    mount -t overlay overlay -o lowerdir=${lowers.join(':')},upperdir=${d}/u,workdir=${d}/w,redirect_dir=off,metacopy=off,index=off ${d}/m
    cd ${d}/m
    ${CHANGES}
  `], { env: { S: `${d}/s` } });
  return join(d, 'u');
}

describe('captureUpper on a real overlay upper dir', () => {
  let tmp: string;
  let l1: string;
  let l2: string;
  let upper: string;
  let stats: CaptureStats;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ib-capture-'));
    ({ l1, l2 } = await makeLowers(tmp));
    upper = await overlayStep(tmp, [l2, l1], 'step');
    // What overlayfs left, before capture: the markers capture must deal with.
    const raw = await readXattrsTree(upper);
    expect(raw.get('opt/app')?.['trusted.overlay.opaque']?.toString()).toBe('y');
    expect(raw.get('newd')?.['trusted.overlay.opaque']?.toString()).toBe('y');
    expect(lstatSync(join(upper, 'etc/touch.conf')).isFile()).toBe(true);
    stats = await captureUpper(upper, [l2, l1], { sourceDateEpoch: SDE });
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('keeps exactly the real changes', async () => {
    expect(await listing(upper, { content: true })).toEqual([
      '. dir 755 0:0',
      'etc dir 755 0:0',
      'etc/del.conf whiteout 0 0:0',
      'etc/link symlink 777 0:0 -> target2',
      'etc/machine-id file 644 0:0 ""',
      'etc/mod.conf file 644 0:0 "changed\\n"',
      'etc/mode.conf file 600 0:0 "x\\n"',
      'etc/new.conf file 644 0:0 "new\\n"',
      'gone dir 755 0:0',
      'gone/z file 644 0:0 "z\\n"',
      'newd dir 755 0:0',
      'newd/f file 644 0:0 "f\\n"',
      'opt dir 755 0:0',
      'opt/app dir 755 0:0',
      'opt/app/b whiteout 0 0:0',
      'opt/app/c whiteout 0 0:0',
      'opt/app/d file 644 0:0 "d\\n"',
      'shadowed dir 755 0:0',
      'shadowed/f3 file 644 0:0 "f3\\n"',
      'usr dir 755 0:0',
      'usr/bin dir 755 0:0',
      'usr/bin/tool file 755 0:0 "#!/bin/sh\\n" user.test=32',
      'var dir 755 0:0',
      'var/lib dir 755 0:0',
      'var/lib/apt dir 755 0:0',
      'var/lib/apt/lists dir 755 0:0',
      'var/lib/apt/lists/deb_list whiteout 0 0:0',
    ]);
    expect(stats).toMatchObject({ whiteouts: 4, files: 10, dirs: 13 });
    expect(stats.noise).toBe(3); // other_list, dpkg.log, machine-id
  });
});

describe('scanDiff gives the same layer dir as overlay capture', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ib-scandiff-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('for the same step, against the layer stack and against a flattened lower', async () => {
    const { l1, l2 } = await makeLowers(tmp);
    const upper = await overlayStep(tmp, [l2, l1], 'overlay');
    const sc = await captureUpper(upper, [l2, l1], { sourceDateEpoch: SDE });

    // The fallback's world: a full copy of the merged lower, changed in place.
    const flat = join(tmp, 'flat');
    const next = join(tmp, 'next');
    await mkdir(join(tmp, 'ro'));
    await mkdir(join(tmp, 's'));
    await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `
      mount -t overlay overlay -o ro,lowerdir=${l2}:${l1} ${tmp}/ro
      cp -a ${tmp}/ro ${flat}
      cp -a ${tmp}/ro ${next}
    `]);
    await run('sh', ['-ec', `cd ${next}\n${CHANGES}`], { env: { S: join(tmp, 's') } });

    // mtimes too: capture puts back the directory mtimes its removals bumped.
    const want = await listing(upper, { mtime: true });
    expect(want.length).toBeGreaterThan(20);
    const fromStack = join(tmp, 'out-stack');
    const s1 = await scanDiff([l2, l1], next, fromStack, { sourceDateEpoch: SDE });
    expect(await listing(fromStack, { mtime: true })).toEqual(want);
    const fromFlat = join(tmp, 'out-flat');
    const s2 = await scanDiff(flat, next, fromFlat, { sourceDateEpoch: SDE });
    expect(await listing(fromFlat, { mtime: true })).toEqual(want);
    expect({ ...s1, dropped: 0 }).toEqual({ ...s2, dropped: 0 });
    expect({ ...s1, dropped: 0 }).toEqual({ ...sc, dropped: 0 });
    expect([s1.files, s1.whiteouts, s1.dirs]).toEqual([10, 4, 13]);
  });

  it('refuses to write into a non-empty layer dir', async () => {
    const out = join(tmp, 'busy');
    await mkdir(out);
    await writeFile(join(out, 'x'), '');
    await expect(scanDiff(tmp, tmp, out, { sourceDateEpoch: SDE })).rejects.toThrow(`${out} is not empty`);
  });
});

describe('captureUpper edge cases', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ib-capture-edge-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('refuses an upper dir with redirect or metacopy xattrs', async () => {
    const upper = join(tmp, 'redirect');
    await mkdir(join(upper, 'usr/share/moved'), { recursive: true });
    await run('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/usr/share/old', join(upper, 'usr/share/moved')]);
    await expect(captureUpper(upper, [], { sourceDateEpoch: SDE })).rejects.toThrow(
      'the overlay upper dir has trusted.overlay.redirect on usr/share/moved: it is not a complete diff of the step',
    );
  });

  it('cleans a bootstrap tree (no lowers): noise out, machine-id emptied, overlay xattrs stripped, caps kept', async () => {
    const upper = join(tmp, 'boot');
    await run('sh', ['-ec', `
      mkdir -p ${upper} && cd ${upper}
      mkdir -p etc/ssh var/lib/apt/lists/partial var/cache/apt/archives/partial var/log/apt var/lib/dpkg usr/bin var/cache/debconf
      echo id > etc/machine-id; echo key > etc/ssh/ssh_host_ed25519_key; echo conf > etc/ssh/sshd_config
      echo l > var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease; : > var/lib/apt/lists/lock
      echo p > var/cache/apt/pkgcache.bin; echo d > var/cache/apt/archives/x.deb; : > var/cache/apt/archives/lock
      echo h > var/log/apt/history.log; echo s > var/lib/dpkg/status; echo o > var/lib/dpkg/status-old; : > var/lib/dpkg/lock-frontend
      echo t > var/cache/debconf/templates.dat-old; echo t > var/cache/debconf/templates.dat
      cp /usr/bin/true usr/bin/ping && setcap cap_net_raw+ep usr/bin/ping
      setfattr -n trusted.overlay.origin -v 0x00 etc
      setfattr -n trusted.overlay.impure -v y var
    `]);
    const s = await captureUpper(upper, [], { sourceDateEpoch: SDE });
    const got = (await listing(upper)).filter((l) => !l.includes(' dir '));
    expect(got.map((l) => l.replace(/ \d+ [0-9a-f]{64}/, ''))).toEqual([
      'etc/machine-id file 644 0:0',
      'etc/ssh/sshd_config file 644 0:0',
      'usr/bin/ping file 755 0:0 security.capability=0100000200200000000000000000000000000000',
      'var/cache/debconf/templates.dat file 644 0:0',
      'var/lib/apt/lists/lock file 644 0:0',
      'var/lib/dpkg/status file 644 0:0',
    ]);
    expect(lstatSync(join(upper, 'etc/machine-id')).size).toBe(0);
    expect(lstatSync(join(upper, 'var/lib/apt/lists/partial')).isDirectory()).toBe(true);
    const x = await readXattrsTree(upper);
    expect([...x.values()].flatMap((v) => Object.keys(v)).filter((k) => k.startsWith('trusted.'))).toEqual([]);
    expect(s.noise).toBe(10);
  });
});
