import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { existsInLayers, readFromLayers } from './base.js';

const work = mkdtempSync(join(tmpdir(), 'ib-base-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function dir(name: string, files: Record<string, string>, links: Record<string, string> = {}): string {
  const d = join(work, name);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), c);
  }
  for (const [p, t] of Object.entries(links)) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    symlinkSync(t, join(d, p));
  }
  return d;
}

describe('readFromLayers', () => {
  const host = dir('host', { 'dpkg/status': 'Package: host-only\n' });
  const lower = dir('lower', { 'var/lib/dpkg/status': 'Package: lower\n', 'etc/kernel/cmdline': 'quiet\n' });

  it('reads the topmost copy of a file', () => {
    const upper = dir('upper', { 'var/lib/dpkg/status': 'Package: upper\n' });
    expect(readFromLayers([upper, lower], 'var/lib/dpkg/status')).toBe('Package: upper\n');
    expect(readFromLayers([upper, lower], '/etc/kernel/cmdline')).toBe('quiet\n');
  });

  it('never follows a symlinked parent out of the layer (to the build host\'s files)', () => {
    const evil = dir('evil', {}, { 'var/lib/dpkg': join(host, 'dpkg') });
    expect(readFromLayers([evil, lower], 'var/lib/dpkg/status')).toBeUndefined();
    expect(existsInLayers([evil, lower], 'var/lib/dpkg/status')).toBe(false);
    const relative = dir('relative', {}, { var: '../host' });
    expect(readFromLayers([relative], 'var/dpkg/status')).toBeUndefined();
  });

  it('a file where a parent should be hides the lower layers, as in overlayfs', () => {
    const file = dir('file', { 'var/lib': 'not a dir\n' });
    expect(readFromLayers([file, lower], 'var/lib/dpkg/status')).toBeUndefined();
  });
});
