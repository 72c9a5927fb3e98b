import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRecipe } from './load.js';
import { mirrorSuites, plan } from './plan.js';

function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ib-plan-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

const files = {
  'recipes/r.yaml': 'name: demo\nlayers: [distro/base, tools, motd]\n',
  'layers/distro/base.yaml': 'bootstrap: {suite: bookworm, mirror: "http://m.example/debian"}\npackages: {install: [systemd-sysv, udev]}\n',
  'layers/tools.yaml': 'packages: {install: [htop]}\n',
  'layers/motd.yaml': 'files: [{path: /etc/motd, content: "hi\\n"}]\n',
};
const mirror = { 'http://m.example/debian bookworm': 'sha256:aaaa' };

describe('plan', () => {
  it('is deterministic and folds the base fragment into the bootstrap', async () => {
    const l = await loadRecipe(join(fixture(files), 'recipes/r.yaml'));
    const a = plan(l, { mirrorState: mirror, sourceDateEpoch: 1700000000 });
    const b = plan(await loadRecipe(join(fixture(files), 'recipes/r.yaml')), { mirrorState: mirror, sourceDateEpoch: 1700000000 });
    expect(a.steps.map((s) => s.key)).toEqual(b.steps.map((s) => s.key));
    expect(a.steps.map((s) => s.kind)).toEqual(['bootstrap', 'layer', 'layer', 'initramfs']);
    expect(a.base).toMatchObject({ bootstrap: { include: ['systemd-sysv', 'udev'], mirror: 'http://m.example/debian' } });
    expect(mirrorSuites(l)).toEqual([{ uri: 'http://m.example/debian', suite: 'bookworm' }]);
  });

  it('a mirror update changes package steps and their descendants only', async () => {
    const l = await loadRecipe(join(fixture(files), 'recipes/r.yaml'));
    const a = plan(l, { mirrorState: mirror, sourceDateEpoch: 1 });
    const b = plan(l, { mirrorState: { 'http://m.example/debian bookworm': 'sha256:bbbb' }, sourceDateEpoch: 1 });
    expect(a.steps[0]!.inputs['InRelease http://m.example/debian bookworm']).toBe('sha256:aaaa');
    expect(a.steps[0]!.key).not.toBe(b.steps[0]!.key);
    // The motd step has no mirror input of its own.
    expect(Object.keys(a.steps[2]!.inputs)).toEqual([]);
  });

  it('changing a later step keeps earlier keys', async () => {
    const d = fixture(files);
    const a = plan(await loadRecipe(join(d, 'recipes/r.yaml')), { mirrorState: mirror, sourceDateEpoch: 1 });
    writeFileSync(join(d, 'layers/motd.yaml'), 'files: [{path: /etc/motd, content: "changed\\n"}]\n');
    const b = plan(await loadRecipe(join(d, 'recipes/r.yaml')), { mirrorState: mirror, sourceDateEpoch: 1 });
    expect(b.steps[0]!.key).toBe(a.steps[0]!.key);
    expect(b.steps[1]!.key).toBe(a.steps[1]!.key);
    expect(b.steps[2]!.key).not.toBe(a.steps[2]!.key);
  });
});
