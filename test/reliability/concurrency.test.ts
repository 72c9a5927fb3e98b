/**
 * Two ib processes on one cache dir at once: the same recipe built twice (package steps
 * included, so apt's lists and archives are shared), a build and a derive that share a base, and
 * `ib prune` running while a build is in its step. Both succeed, the store passes the integrity
 * check, one image per tag, no temp files left.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ib, ibOk, type IbResult } from '../helpers/ib.js';
import { ibKilled } from './kill.js';
import { checkStore, mountsUnder, staleTemps } from './leftovers.js';
import { seedCache } from './seed.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-conc-'));
const cache = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => {
  seedCache(base.cacheDir, cache);
  mkdirSync(join(work, 'layers'));
  writeFileSync(join(work, 'layers', 'motd.yaml'), 'files:\n  - path: /etc/motd\n    content: "concurrent\\n"\nrun:\n  - sleep 1\n');
  writeFileSync(join(work, 'layers', 'hello.yaml'), 'packages:\n  install: [hello]\n');
  writeFileSync(join(work, 'same.yaml'), `name: rel/same\nfrom: ${base.tag}\nlayers: [motd, hello]\n`);
});

const fail = (r: IbResult) => `exit ${r.code}:\n${r.stderr.split('\n').filter((l) => !l.startsWith('{')).slice(-15).join('\n')}`;

async function storeSound(): Promise<void> {
  expect(await checkStore(join(cache, 'store'))).toMatchObject({ bad: [], dangling: [], staleIngest: [] });
  expect(staleTemps(cache)).toEqual([]);
  expect(mountsUnder(cache)).toEqual([]);
}

describe('two ib processes on one cache dir', () => {
  it('the same recipe built twice at once: both succeed with the same image', async () => {
    const [a, b] = await Promise.all([
      ib(['--json', 'build', join(work, 'same.yaml')], { cacheDir: cache }),
      ib(['--json', 'build', join(work, 'same.yaml')], { cacheDir: cache }),
    ]);
    expect(a.code, fail(a)).toBe(0);
    expect(b.code, fail(b)).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const images = JSON.parse((await ibOk(['images', '--format', 'json'], { cacheDir: cache })).stdout) as { name: string; digest: string }[];
    expect(images.filter((i) => i.name === 'rel/same:latest').map((i) => i.digest)).toEqual([a.stdout.trim()]);
    await storeSound();
  });

  it('a build and a derive that both install packages at once', async () => {
    writeFileSync(join(work, 'other.yaml'), `name: rel/other\nfrom: ${base.tag}\npackages:\n  install: [cowsay]\n`);
    const [a, b] = await Promise.all([
      ib(['--json', 'build', join(work, 'other.yaml')], { cacheDir: cache }),
      ib(['--json', 'derive', 'from', base.tag, '--install', 'sl', '--tag', 'rel/sl:1'], { cacheDir: cache }),
    ]);
    expect(a.code, fail(a)).toBe(0);
    expect(b.code, fail(b)).toBe(0);
    await storeSound();
  });

  it('ib prune while a build is in its step does not break the build', async () => {
    writeFileSync(join(work, 'pruned.yaml'), `name: rel/pruned\nfrom: ${base.tag}\nfiles:\n  - path: /etc/pruned\n    content: "x\\n"\nrun:\n  - sleep 3\n`);
    let prune: Promise<IbResult> | undefined;
    const build = ibKilled(['build', join(work, 'pruned.yaml')], {
      when: (e) => {
        if (e.event === 'step-started') prune = ib(['prune'], { cacheDir: cache });
        return false;
      },
      signal: 'SIGINT',
    }, { cacheDir: cache });
    const b = await build;
    const p = await prune!;
    expect(p.code, p.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    await ibOk(['export', 'rel/pruned:latest', join(work, 'pruned-tree')], { cacheDir: cache });
    await storeSound();
  });
});

describe('ib prune --all while a build runs', () => {
  it('is refused with a clear error, and the build goes on', async () => {
    writeFileSync(join(work, 'pruned-all.yaml'), `name: rel/pruned-all\nfrom: ${base.tag}\nfiles:\n  - path: /etc/pruned-all\n    content: "x\\n"\nrun:\n  - sleep 3\n`);
    let prune: Promise<IbResult> | undefined;
    const b = await ibKilled(['build', join(work, 'pruned-all.yaml')], {
      when: (e) => {
        if (e.event === 'step-started') prune = ib(['prune', '--all'], { cacheDir: cache });
        return false;
      },
      signal: 'SIGINT',
    }, { cacheDir: cache });
    const p = await prune!;
    expect(b.code, b.stderr).toBe(0);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^error: another ib process \(pid \d+\) is building with this cache dir; prune --all would remove the layers it works on$/m);
    expect(p.stderr).toContain('hint: run it again when that build has finished; ib prune without --all is safe at any time');
    await storeSound();
    // Once the build is done, prune --all works.
    await ibOk(['prune', '--all'], { cacheDir: cache });
    await storeSound();
  });
});
