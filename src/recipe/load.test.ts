import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRecipe } from './load.js';

function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ib-recipe-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('loadRecipe', () => {
  it('names file, line and path of an unknown key, with the valid keys', async () => {
    const d = fixture({ 'r.yaml': 'name: x\nbootstrap:\n  suite: bookworm\npackages:\n  install: [htop]\n  instal: [curl]\n' });
    const msg = await errorOf(loadRecipe(join(d, 'r.yaml')));
    expect(msg).toContain('r.yaml:6 .packages.instal: unknown key "instal"; valid keys: install, remove');
  });

  it('names the line of a wrong type', async () => {
    const d = fixture({ 'r.yaml': 'name: x\nbootstrap: {suite: bookworm}\npackages:\n  install:\n    - htop\n    - 42\n' });
    const msg = await errorOf(loadRecipe(join(d, 'r.yaml')));
    expect(msg).toContain('r.yaml:6 .packages.install[1]: expected string, got number 42');
  });

  it('reports a missing layer fragment with where it looked', async () => {
    const d = fixture({ 'r.yaml': 'name: x\nbootstrap: {suite: bookworm}\nlayers: [platform/nope]\n' });
    const msg = await errorOf(loadRecipe(join(d, 'r.yaml')));
    expect(msg).toBe('r.yaml .layers[0]: layer fragment "platform/nope" not found');
  });

  it('reports invalid YAML with its line', async () => {
    const d = fixture({ 'r.yaml': 'name: x\nbootstrap: {suite: bookworm\n' });
    expect(await errorOf(loadRecipe(join(d, 'r.yaml')))).toMatch(/r\.yaml:\d+: invalid YAML/);
  });

  it('requires a base', async () => {
    const d = fixture({ 'r.yaml': 'name: x\n' });
    expect(await errorOf(loadRecipe(join(d, 'r.yaml')))).toBe('r.yaml: no base: give "bootstrap:" (a new Debian tree) or "from:" (an image to derive from)');
  });

  it('resolves fragments from layers/ beside the recipe dir, in order, with input digests', async () => {
    const d = fixture({
      'recipes/r.yaml': 'name: x\nlayers: [distro/base, extra]\nhostname: h\n',
      'layers/distro/base.yaml': 'bootstrap: {suite: bookworm}\npackages: {install: [systemd-sysv]}\n',
      'layers/extra.yaml': 'files:\n  - path: /etc/motd\n    source: motd\n',
      'layers/motd': 'hello\n',
    });
    const l = await loadRecipe(join(d, 'recipes/r.yaml'));
    expect(l.layers.map((x) => x.name)).toEqual(['distro/base.yaml', 'extra.yaml', 'r.yaml']);
    expect(l.layers[0]!.carriesBootstrap).toBe(true);
    expect(l.bootstrap?.suite).toBe('bookworm');
    expect(l.layers[1]!.inputs.motd).toBe('sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
  });

  it('rejects two bases', async () => {
    const d = fixture({
      'r.yaml': 'name: x\nbootstrap: {suite: bookworm}\nlayers: [b]\n',
      'layers/b.yaml': 'bootstrap: {suite: trixie}\n',
    });
    expect(await errorOf(loadRecipe(join(d, 'r.yaml')))).toContain('a second base');
  });
});
