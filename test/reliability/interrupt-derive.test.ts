/**
 * SIGINT and SIGTERM during a derive's package step, at kill points chosen from the --json
 * stream. After each: ib exits within seconds, nothing is mounted under the cache dir, no process
 * of the run is left, the store verifies, and the next run succeeds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';
import { ibKilled, isEvent, type KillPoint } from './kill.js';
import { checkStore, mountsUnder, staleTemps, waitNoProcesses } from './leftovers.js';
import { seedCache } from './seed.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-derive-'));
const cache = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(() => void seedCache(base.cacheDir, cache));

const derive = ['derive', 'from', base.tag, '--install', 'hello', '--tag', 'rel/hello:1'];

async function assertClean(pid: number): Promise<void> {
  expect(mountsUnder(cache)).toEqual([]);
  expect(await waitNoProcesses(pid, cache)).toEqual([]);
  const s = await checkStore(join(cache, 'store'));
  expect(s.bad).toEqual([]);
  expect(s.dangling).toEqual([]);
}

const points: [string, KillPoint][] = [
  ['SIGINT right after step-started', { when: isEvent('step-started'), signal: 'SIGINT' }],
  ['SIGTERM right after step-started', { when: isEvent('step-started'), signal: 'SIGTERM' }],
  ['SIGINT 2 s into the step', { when: isEvent('step-started'), delayMs: 2000, signal: 'SIGINT' }],
  ['SIGTERM 5 s into the step', { when: isEvent('step-started'), delayMs: 5000, signal: 'SIGTERM' }],
  ['SIGINT to the process group 8 s into the step (Ctrl-C)', { when: isEvent('step-started'), delayMs: 8000, signal: 'SIGINT', group: true }],
  ['SIGTERM 11 s into the step', { when: isEvent('step-started'), delayMs: 11000, signal: 'SIGTERM' }],
];

describe('interrupting a derive', () => {
  for (const [name, point] of points) {
    it(name, async () => {
      const r = await ibKilled(derive, point, { cacheDir: cache });
      console.log(name, r.code, r.exitSeconds, r.stderr.split('\n').filter((l) => !l.startsWith('{')).join(' | '));
      expect(r.exitSeconds).toBeDefined();
      await assertClean(r.pid);
    });
  }
  it('the next run succeeds and leaves no temp files', async () => {
    const r = await ibOk(['--json', ...derive], { cacheDir: cache });
    expect(r.events.filter((e) => e.event === 'step-finished').length).toBeGreaterThan(0);
    expect(staleTemps(cache)).toEqual([]);
    expect((await checkStore(join(cache, 'store'))).staleIngest).toEqual([]);
  });
});
