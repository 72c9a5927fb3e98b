/**
 * SIGINT and SIGTERM during `ib push` (after the first and the third blob-pushed event),
 * `ib export` (while the layers are copied out) and `ib disk` (while flattening, making the root
 * filesystem, converting to qcow2). After each: ib exits 130 within seconds, no mount, no process,
 * no output file and no temp file; the registry holds only blobs that match their digests; the
 * next run succeeds (a push skips the blobs that were complete).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { ibKilled, isEvent, type KillPoint, type KilledRun } from './kill.js';
import { checkRegistryStorage, checkStore, loopDevicesUnder, mountsUnder, staleTemps, waitNoProcesses } from './leftovers.js';
import { seedCache } from './seed.js';

const base = inject('baseImage');
const work = mkdtempSync(join(tmpdir(), 'ib-rel-media-'));
const cache = join(work, 'cache');
// ib's own temp dirs (os.tmpdir(): ib disk's work dir) go here, so leftovers are ours to see.
const tmp = join(work, 'tmp');
const out = join(work, 'out');
let reg: TestRegistry;
beforeAll(async () => {
  seedCache(base.cacheDir, cache);
  mkdirSync(tmp);
  mkdirSync(out);
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** ib disk and export remove a flattened 670 MB tree on the way out: that takes seconds too. */
async function assertStopped(r: KilledRun, maxSeconds = 5): Promise<void> {
  expect(r.exitSeconds, r.stderr).toBeDefined();
  expect(r.code, r.stderr).toBe(130);
  expect(r.exitSeconds!).toBeLessThan(maxSeconds);
  expect(mountsUnder(work)).toEqual([]);
  expect(loopDevicesUnder(work)).toEqual([]);
  expect(await waitNoProcesses(r.pid, work, 3000, r.tree)).toEqual([]);
  expect(readdirSync(out)).toEqual([]);
  expect(readdirSync(tmp)).toEqual([]);
  expect(staleTemps(cache)).toEqual([]);
  const s = await checkStore(join(cache, 'store'));
  expect(s).toMatchObject({ bad: [], dangling: [], staleIngest: [] });
}

const env = { TMPDIR: tmp };

describe('interrupting ib push', () => {
  const dest = () => `${reg.address}/rel/base:1`;
  const pushed = (n: number) => (_e: unknown, seen: Record<string, unknown>[]) => seen.filter((e) => e.event === 'blob-pushed').length >= n;
  const points: [string, KillPoint][] = [
    ['SIGINT after the first blob-pushed', { when: pushed(1), signal: 'SIGINT' }],
    ['SIGTERM after the third blob-pushed', { when: pushed(3), signal: 'SIGTERM' }],
    ['SIGINT to the process group 0.3 s after the first blob-pushed (Ctrl-C)', { when: pushed(1), delayMs: 300, signal: 'SIGINT', group: true }],
  ];
  for (const [name, point] of points) {
    it(name, async () => {
      const r = await ibKilled(['push', base.tag, dest()], point, { cacheDir: cache, env });
      await assertStopped(r);
      // The first kill lands while the big layers are on their way: the push stops, it does
      // not run on to the end (it did, before transfers listened to the interrupt).
      if (name.startsWith('SIGINT after the first')) expect(r.events.map((e) => e.event)).not.toContain('image');
      expect((await checkRegistryStorage(reg.storageDir)).bad).toEqual([]);
    });
  }
  it('the next push skips the blobs that are complete and the registry verifies', async () => {
    const r = await ibOk(['--json', 'push', base.tag, dest()], { cacheDir: cache, env });
    expect(r.stdout.trim()).toBe(base.digest);
    const blobs = r.events.filter((e) => e.event === 'blob-pushed');
    expect(blobs.filter((e) => e.skipped).length).toBeGreaterThanOrEqual(3);
    const st = await checkRegistryStorage(reg.storageDir);
    expect(st.bad).toEqual([]);
    expect(st.blobs).toBeGreaterThanOrEqual(blobs.length);
  });
});

describe('interrupting ib pull', () => {
  const puller = join(work, 'puller');
  const src = () => `${reg.address}/rel/base:1`;
  const pulled = (n: number) => (_e: unknown, seen: Record<string, unknown>[]) => seen.filter((e) => e.event === 'blob-pulled').length >= n;
  for (const [name, point] of [
    ['SIGINT after the first blob-pulled', { when: pulled(1), signal: 'SIGINT' }],
    ['SIGTERM 0.3 s after the second blob-pulled', { when: pulled(2), delayMs: 300, signal: 'SIGTERM' }],
  ] as [string, KillPoint][]) {
    it(name, async () => {
      const r = await ibKilled(['pull', src()], point, { cacheDir: puller, env });
      await assertStopped(r);
      // Half-fetched blobs never reach blobs/: everything there verifies, .ingest is empty.
      expect(await checkStore(join(puller, 'store'))).toMatchObject({ bad: [], dangling: [], staleIngest: [] });
      expect(readdirSync(join(puller, 'store', '.ingest'))).toEqual([]);
    });
  }
  it('the next pull reuses the blobs that were complete', async () => {
    const r = await ibOk(['--json', 'pull', src()], { cacheDir: puller, env });
    expect(r.stdout.trim()).toBe(base.digest);
    expect(r.events.filter((e) => e.event === 'blob-pulled' && e.cached).length).toBeGreaterThanOrEqual(2);
    expect(await checkStore(join(puller, 'store'))).toMatchObject({ bad: [], dangling: [], staleIngest: [] });
  });
});

describe('interrupting ib export', () => {
  const dir = join(out, 'tree');
  for (const [name, point] of [
    // Once its temp tree (tree.tmp-PID) appears, i.e. while cp copies the merged layers out.
    ['SIGINT to the process group 0.5 s into the copy', { when: 'spawn', ready: () => readdirSync(out).some((n) => n.startsWith('tree.tmp-')), delayMs: 500, signal: 'SIGINT', group: true }],
  ] as [string, KillPoint][]) {
    it(name, async () => {
      await assertStopped(await ibKilled(['export', base.tag, dir], point, { cacheDir: cache, env }), 10);
    });
  }
  it('the next export writes the whole tree', async () => {
    await ibOk(['export', base.tag, dir], { cacheDir: cache, env });
    expect(statSync(join(dir, 'usr/bin/bash')).isFile()).toBe(true);
    expect(readdirSync(out)).toEqual(['tree']);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('interrupting ib disk', () => {
  const file = join(out, 'disk.qcow2');
  const phaseStarted = (name: string) => isEvent('phase', { name, state: 'started' });
  for (const [name, point] of [
    ['SIGTERM 1 s into flattening layers', { when: phaseStarted('flattening layers'), delayMs: 1000, signal: 'SIGTERM' }],
    ['SIGINT 1 s into making the root filesystem', { when: phaseStarted('making root filesystem'), delayMs: 1000, signal: 'SIGINT' }],
    // qemu-img ignores SIGINT: only ib's own SIGTERM to it stops the conversion.
    ['SIGINT to the process group 0.2 s into converting to qcow2', { when: phaseStarted('converting to qcow2'), delayMs: 200, signal: 'SIGINT', group: true }],
  ] as [string, KillPoint][]) {
    it(name, async () => {
      await assertStopped(await ibKilled(['disk', base.tag, '-o', file], point, { cacheDir: cache, env }), 10);
    });
  }
  it('the next ib disk writes the image', async () => {
    await ibOk(['disk', base.tag, '-o', file], { cacheDir: cache, env });
    expect(existsSync(file)).toBe(true);
    expect(readdirSync(out)).toEqual(['disk.qcow2']);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
