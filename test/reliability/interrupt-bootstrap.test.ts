/**
 * SIGINT and SIGTERM in the first seconds of `ib build` of a tiny bootstrap recipe (mmdebstrap,
 * variant essential): during apt-get update, the download/extract, and dpkg's install, when
 * mmdebstrap has proc, sysfs, devpts and a tmpfs mounted in the target. Then the build runs to
 * the end in the same cache dir.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';
import { ibKilled, isEvent, type KillPoint } from './kill.js';
import { checkStore, mountsUnder, staleTemps, waitNoProcesses } from './leftovers.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-bootstrap-'));
const cache = join(work, 'cache');
const recipe = join(work, 'tiny.yaml');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  // Only apt's .debs are needed (the essential set is part of the base's): no download.
  const { execFileSync } = await import('node:child_process');
  execFileSync('mkdir', ['-p', cache]);
  execFileSync('cp', ['-a', join(base.cacheDir, 'apt'), cache]);
  writeFileSync(recipe, 'name: rel/tiny\nbootstrap:\n  suite: bookworm\n  variant: essential\nfiles:\n  - path: /etc/motd\n    content: "tiny\\n"\n');
});

const started = isEvent('step-started', { kind: 'bootstrap' });
const points: [string, KillPoint][] = [
  ['SIGTERM as the bootstrap starts', { when: started, signal: 'SIGTERM' }],
  ['SIGINT 2 s in (apt-get update)', { when: started, delayMs: 2000, signal: 'SIGINT' }],
  ['SIGTERM to the process group 8 s in (download, extract)', { when: started, delayMs: 8000, signal: 'SIGTERM', group: true }],
  ['SIGINT 24 s in (dpkg runs, mmdebstrap has its mounts up)', { when: started, delayMs: 24000, signal: 'SIGINT' }],
];

describe('interrupting a bootstrap', () => {
  for (const [name, point] of points) {
    it(name, async () => {
      const r = await ibKilled(['build', recipe], point, { cacheDir: cache });
      expect(r.exitSeconds, r.stderr).toBeDefined();
      expect(r.code).toBe(130);
      expect(r.stderr).toContain('interrupted');
      expect(r.exitSeconds!).toBeLessThan(5);
      expect(mountsUnder(cache)).toEqual([]);
      expect(await waitNoProcesses(r.pid, cache, 3000, r.tree)).toEqual([]);
      // Nothing of the half-made tree survives: no layer dir, no step record, no layer blob.
      expect(staleTemps(cache).filter((t) => !t.startsWith('tmp/'))).toEqual([]);
      const s = await checkStore(join(cache, 'store'));
      expect(s.bad).toEqual([]);
    });
  }

  it('the next build runs to the end and leaves no temp files of the killed runs', async () => {
    const r = await ibOk(['--json', 'build', recipe], { cacheDir: cache });
    expect(r.events.filter((e) => e.event === 'step-finished').map((e) => e.step)).toEqual(['bootstrap', 'tiny.yaml', 'initramfs']);
    expect(staleTemps(cache)).toEqual([]);
    const s = await checkStore(join(cache, 'store'));
    expect(s).toMatchObject({ bad: [], dangling: [], staleIngest: [] });
    // A rebuild is all cache hits.
    const again = await ibOk(['--json', 'build', recipe], { cacheDir: cache });
    expect(again.events.filter((e) => e.event === 'step-cached').map((e) => e.step)).toEqual(['bootstrap', 'tiny.yaml', 'initramfs']);
  }, 300_000);
});
