import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aptAuthOf } from '../build/step-inside.js';
import { sourcesFile } from '../packages/apt.js';
import { loadRecipe } from './load.js';
import { plan, planForDisplay } from './plan.js';
import { aptAuthConf, redactUri, splitUriAuth } from './uri-auth.js';

function recipe(uri: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ib-uri-auth-'));
  writeFileSync(join(dir, 'r.yaml'), `name: r\nbootstrap: {suite: bookworm}\nrepositories:\n  - {name: priv, uri: "${uri}", suites: [stable]}\npackages: {install: [hello]}\n`);
  return join(dir, 'r.yaml');
}

describe('credentials in repository URIs', () => {
  it('are split off, percent-decoded, and redacted whole', () => {
    expect(splitUriAuth('https://deb.example/debian')).toEqual({ uri: 'https://deb.example/debian' });
    expect(splitUriAuth('http://u%40corp:p%3Ass:w@127.0.0.1:8080/debian/')).toEqual({
      uri: 'http://127.0.0.1:8080/debian/',
      auth: { machine: 'http://127.0.0.1:8080/debian', login: 'u@corp', password: 'p:ss:w' },
    });
    expect(redactUri('https://user:pw@deb.example/debian')).toBe('https://***@deb.example/debian');
    // A user alone may be a token: it is redacted too.
    expect(redactUri('https://tok3n@deb.example/debian')).toBe('https://***@deb.example/debian');
    expect(aptAuthConf([splitUriAuth('http://u:p@h/x').auth!, splitUriAuth('http://u:p@h/x/').auth!])).toBe('machine http://h/x\nlogin u\npassword p\n');
  });

  it('stay out of sources files, step keys and the displayed plan; apt gets them in auth.conf', async () => {
    const state = { 'http://deb.debian.org/debian bookworm': 'sha256:aa', 'https://deb.example/debian stable': 'sha256:bb' };
    const a = plan(await loadRecipe(recipe('https://alice:first-secret@deb.example/debian')), { mirrorState: state, sourceDateEpoch: 1 });
    const b = plan(await loadRecipe(recipe('https://alice:second-secret@deb.example/debian')), { mirrorState: state, sourceDateEpoch: 1 });
    // Another password is the same content: the same keys, and the mirror input found without it.
    expect(b.steps.map((s) => s.key)).toEqual(a.steps.map((s) => s.key));
    expect(a.steps[1]!.inputs['InRelease https://deb.example/debian stable']).toBe('sha256:bb');
    const shown = JSON.stringify(planForDisplay(a));
    expect(shown).not.toContain('first-secret');
    expect(shown).toContain('"uri":"https://***@deb.example/debian"');
    const layer = a.steps[1]!;
    if (layer.kind !== 'layer') throw new Error('expected a layer step');
    expect(sourcesFile(layer.body.repositories[0]!)).toContain('URIs: https://deb.example/debian\n');
    expect(aptAuthOf(a.steps)).toBe('machine https://deb.example/debian\nlogin alice\npassword first-secret\n');
    expect(aptAuthOf(plan(await loadRecipe(recipe('https://deb.example/debian')), { mirrorState: state, sourceDateEpoch: 1 }).steps)).toBeUndefined();
  });

  it('are refused where apt cannot use them or the image would keep them', async () => {
    await expect(loadRecipe(recipe('https://alice:with%20space@deb.example/debian'))).rejects.toThrow(
      'r.yaml:4 .repositories[0].uri: credentials in the URI must be user:password without spaces',
    );
    const dir = mkdtempSync(join(tmpdir(), 'ib-uri-auth-'));
    writeFileSync(join(dir, 'm.yaml'), 'name: m\nbootstrap:\n  mirror: https://alice:pw@deb.example/debian\n');
    const err = await loadRecipe(join(dir, 'm.yaml')).catch((e: Error) => e);
    expect((err as Error).message).toContain('m.yaml:3 .bootstrap.mirror: no user:password@ here: the bootstrap mirror is written into the image');
    expect((err as Error).message).not.toContain(':pw@');
  });
});
