/**
 * SIGINT and SIGTERM during the package step of a build on the shared base (a `from:` recipe of
 * two layers: files first, then `apt-get install hello`) and of `ib derive from`, at kill points
 * chosen from the --json stream. The package steps end with a `sleep 5` snippet so that every
 * kill point lands inside the step however fast apt is (its .debs and lists are cached after
 * the first run). After each: ib exits 130 within seconds, nothing is mounted
 * under the cache dir, no process of the run is left, the store verifies. The next run succeeds
 * and reuses the layer that was finished before the kill.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';
import { ibKilled, isEvent, type Event, type KillPoint } from './kill.js';
import { checkStore, mountsUnder, staleTemps, waitNoProcesses } from './leftovers.js';
import { seedCache } from './seed.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-derive-'));
const cache = join(work, 'cache');
const recipe = join(work, 'app.yaml');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => {
  seedCache(base.cacheDir, cache);
  mkdirSync(join(work, 'layers'));
  writeFileSync(join(work, 'layers', 'motd.yaml'), 'files:\n  - path: /etc/motd\n    content: "reliable\\n"\nrun:\n  - echo ok > /etc/ib-rel-ran\n');
  writeFileSync(join(work, 'layers', 'hello.yaml'), 'packages:\n  install: [hello]\nrun:\n  - sleep 5\n');
  writeFileSync(recipe, `name: rel/app\nfrom: ${base.tag}\nlayers: [motd, hello]\n`);
});

async function assertStopped(r: Awaited<ReturnType<typeof ibKilled>>): Promise<void> {
  expect(r.exitSeconds, r.stderr).toBeDefined();
  expect(r.code, r.stderr).toBe(130);
  expect(r.stderr).toMatch(/error: .*interrupted/);
  expect(r.exitSeconds!).toBeLessThan(5);
  expect(mountsUnder(cache)).toEqual([]);
  expect(await waitNoProcesses(r.pid, cache, 3000, r.tree)).toEqual([]);
  const s = await checkStore(join(cache, 'store'));
  expect(s.bad).toEqual([]);
  expect(s.dangling).toEqual([]);
}

const helloStarted = (e: Event) => e.event === 'step-started' && e.step === 'hello.yaml';
const points: [string, KillPoint][] = [
  ['SIGTERM as the first layer starts', { when: isEvent('step-started', { step: 'motd.yaml' }), signal: 'SIGTERM' }],
  ['SIGINT right after the package step starts', { when: helloStarted, signal: 'SIGINT' }],
  ['SIGTERM 1.5 s into the package step (apt-get update)', { when: helloStarted, delayMs: 1500, signal: 'SIGTERM' }],
  ['SIGINT to the process group 3 s into the package step (Ctrl-C; apt, dpkg)', { when: helloStarted, delayMs: 3000, signal: 'SIGINT', group: true }],
  ['SIGTERM 4.5 s into the package step (dpkg or the run snippet)', { when: helloStarted, delayMs: 4500, signal: 'SIGTERM' }],
];

describe('interrupting a package step on the shared base', () => {
  for (const [name, point] of points) {
    it(name, async () => {
      await assertStopped(await ibKilled(['build', recipe], point, { cacheDir: cache }));
    });
  }

  it('the next build reuses the finished layer, runs the package step, and leaves no temp files', async () => {
    const r = await ibOk(['--json', 'build', recipe], { cacheDir: cache });
    expect(r.events.filter((e) => e.event === 'step-cached').map((e) => e.step)).toEqual(['motd.yaml']);
    expect(r.events.filter((e) => e.event === 'step-started').map((e) => e.step)).toEqual(['hello.yaml']);
    expect(staleTemps(cache)).toEqual([]);
    expect(await checkStore(join(cache, 'store'))).toMatchObject({ bad: [], dangling: [], staleIngest: [] });
  });
});

describe('interrupting ib derive from', () => {
  const derive = ['derive', 'from', base.tag, '--install', 'hello', '--run', 'sleep 5', '--tag', 'rel/hello:1'];
  it('SIGINT 1 s into the step, SIGTERM to the group 4 s in, SIGHUP (terminal closed) 2 s in; then the derive completes', async () => {
    await assertStopped(await ibKilled(derive, { when: isEvent('step-started', { step: 'derive' }), delayMs: 2000, signal: 'SIGHUP' }, { cacheDir: cache }));
    await assertStopped(await ibKilled(derive, { when: isEvent('step-started', { step: 'derive' }), delayMs: 1000, signal: 'SIGINT' }, { cacheDir: cache }));
    await assertStopped(await ibKilled(derive, { when: isEvent('step-started', { step: 'derive' }), delayMs: 4000, signal: 'SIGTERM', group: true }, { cacheDir: cache }));
    const r = await ibOk(['--json', ...derive], { cacheDir: cache });
    expect(r.events.filter((e) => e.event === 'step-finished').map((e) => e.step)).toContain('derive');
    expect(staleTemps(cache)).toEqual([]);
  });
});
