/**
 * Functional reproducibility: the same recipe against the same mirror state, built into an empty
 * cache and store, gives the same layer digests and the same manifest as the suite's base image.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';

const base = inject('baseImage');
const work = mkdtempSync('/var/tmp/ib-e2e-repro-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('two builds into two empty stores', () => {
  it('give identical layer digests and manifest', async () => {
    const cacheDir = join(work, 'cache');
    // Share only the downloaded .debs (they are inputs, not results).
    mkdirSync(join(cacheDir, 'apt'), { recursive: true });
    symlinkSync(join(base.cacheDir, 'apt', 'archives'), join(cacheDir, 'apt', 'archives'));
    const r = await ibOk(['--json', 'build', 'recipes/debian-minimal.yaml', '--tag', base.tag], { cacheDir });
    expect(r.events.filter((e) => e.event === 'step-cached')).toEqual([]);
    const theirs = JSON.parse((await ibOk(['inspect', base.tag], { cacheDir: base.cacheDir })).stdout) as { layers: { digest: string }[] };
    const ours = JSON.parse((await ibOk(['inspect', base.tag], { cacheDir })).stdout) as { layers: { digest: string }[] };
    expect(ours.layers.map((l) => l.digest)).toEqual(theirs.layers.map((l) => l.digest));
    expect(r.stdout.trim()).toBe(base.digest);
  }, 1_800_000);
});
