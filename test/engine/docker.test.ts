/**
 * ib and a real Docker engine (a private dockerd, no bridge, containers --network=none):
 * - images ib builds load into the engine and run there;
 * - `--executor docker` runs a step in a container of the layers below it and makes the very
 *   layer the namespace executor makes (same digest), so the two share one build cache.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run } from '../../src/exec/run.js';
import { startDockerd, type TestDockerd } from '../helpers/dockerd.js';
import { ib, ibOk, type IbResult } from '../helpers/ib.js';

const base = inject('baseImage');
const registry = inject('registry');
const work = mkdtempSync(join(tmpdir(), 'ib-engine-'));
const cache = join(work, 'cache');
const baseRef = `${registry}/engine/base:1`;
let dockerd: TestDockerd;
const env = () => ({ DOCKER_HOST: dockerd.host });

beforeAll(async () => {
  dockerd = await startDockerd();
  await ibOk(['push', base.tag, baseRef], { cacheDir: base.cacheDir });
}, 300_000);
afterAll(async () => {
  await dockerd?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function docker(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  return run('docker', args, { env: env(), allowFailure: true });
}

const deriveEvent = (r: IbResult) => r.events.find((e) => e.event === 'step-finished' && e.step === 'derive') as { key: string; layer: string; bytes: number } | undefined;
const phases = (r: IbResult) => r.events.filter((e) => e.event === 'phase' && e.state === 'finished').map((e) => e.name as string);

/** Forget a built step (record and layer dir) so the next build runs it again. */
async function forget(key: string, tag: string): Promise<void> {
  const info = JSON.parse((await ibOk(['inspect', tag], { cacheDir: cache })).stdout) as { layers: { diffId: string }[] };
  await rm(join(cache, 'steps', `${key.slice('sha256:'.length)}.json`));
  await rm(join(cache, 'layers', info.layers.at(-1)!.diffId.slice('sha256:'.length)), { recursive: true, force: true });
}

/** The same derive under both executors, the step forgotten in between: their layers. */
async function deriveBoth(args: string[], tag: string): Promise<{ ns: IbResult; dk: IbResult }> {
  const ns = await ibOk(['--json', 'derive', 'from', baseRef, ...args, '--tag', `${tag}-ns:1`], { cacheDir: cache });
  await forget(deriveEvent(ns)!.key, `${tag}-ns:1`);
  const dk = await ibOk(['--json', 'derive', 'from', baseRef, ...args, '--tag', `${tag}-dk:1`, '--executor', 'docker'], { cacheDir: cache, env: env() });
  return { ns, dk };
}

describe('an image ib built, in a Docker engine', () => {
  it('loads and runs `cat /etc/os-release` with no network', async () => {
    await ibOk(['copy', base.tag, 'docker-daemon:ib-test/base:1'], { cacheDir: base.cacheDir, env: env() });
    const r = await docker(['run', '--network=none', '--pull=never', '--rm', 'ib-test/base:1', 'cat', '/etc/os-release']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"');
  });
});

describe('ib derive --executor docker', () => {
  it('installs htop in a container and makes the namespace executor\'s layer, digest for digest', async () => {
    const ns = await ibOk(['--json', 'derive', 'from', baseRef, '--install', 'htop', '--tag', 't/htop-ns:1'], { cacheDir: cache });
    const nsStep = deriveEvent(ns)!;
    expect(nsStep.layer).toMatch(/^sha256:/);

    // A step built by one executor is a cache hit for the other: no container at all.
    const hit = await ibOk(['--json', 'derive', 'from', baseRef, '--install', 'htop', '--tag', 't/htop-dk:1', '--executor', 'docker'], { cacheDir: cache, env: env() });
    expect(hit.events.filter((e) => e.event === 'step-started')).toEqual([]);
    expect((await docker(['images', '-q', 'ib-executor'])).stdout.trim()).toBe('');

    await forget(nsStep.key, 't/htop-ns:1');
    // No namespace, mount or chroot on the host: they fail loudly if anything reaches for them.
    const denied = join(work, 'denied');
    mkdirSync(denied);
    for (const tool of ['unshare', 'mount', 'chroot', 'mmdebstrap']) {
      writeFileSync(join(denied, tool), `#!/bin/sh\necho "${tool} must not run under --executor docker" >&2\nexit 97\n`, { mode: 0o755 });
    }
    const dk = await ibOk(['--json', 'derive', 'from', baseRef, '--install', 'htop', '--tag', 't/htop-dk:1', '--executor', 'docker'], {
      cacheDir: cache, env: { ...env(), PATH: `${denied}:${process.env.PATH}` },
    });
    const dkStep = deriveEvent(dk)!;
    expect(phases(dk)).toEqual(expect.arrayContaining(['engine image', 'container', 'reading changes']));
    // apt ran in the container; no customization, so nothing ran in a namespace on the host.
    expect(phases(dk)).not.toContain('customizations (host)');
    expect(dkStep.layer).toBe(nsStep.layer);
    expect(dkStep.bytes).toBeLessThan(1024 * 1024);
    // The stack image stays as the engine's cache; the step container is gone.
    expect((await docker(['images', '--format', '{{.Repository}}', 'ib-executor'])).stdout.trim()).toBe('ib-executor');
    expect((await docker(['ps', '-aq'])).stdout.trim()).toBe('');
  }, 600_000);

  it('the derived image runs `htop --version` in the engine with no network, and has no nano', async () => {
    await ibOk(['copy', 't/htop-dk:1', 'docker-daemon:ib-test/htop:1'], { cacheDir: cache, env: env() });
    const r = await docker(['run', '--network=none', '--pull=never', '--rm', 'ib-test/htop:1', 'htop', '--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^htop 3\.\d+\.\d+/);
    const nano = await docker(['run', '--network=none', '--pull=never', '--rm', 'ib-test/htop:1', 'sh', '-c', 'command -v nano || echo no nano']);
    expect(nano.stdout.trim()).toBe('no nano');
  });

  it('run snippets (in the container): deletions, an opaque directory, a chmod, a symlink — the same layer', async () => {
    const snippet = 'rm -rf /etc/apt/preferences.d && mkdir /etc/apt/preferences.d && echo "# x" > /etc/apt/preferences.d/x; rm /etc/issue; chmod 600 /etc/motd; ln -s /nowhere /etc/dangling';
    const { ns, dk } = await deriveBoth(['--run', snippet], 't/run');
    expect(phases(dk)).toContain('container');
    expect(phases(dk)).not.toContain('customizations (host)');
    expect(deriveEvent(dk)!.layer).toBe(deriveEvent(ns)!.layer);
  }, 300_000);

  it('files then run snippets (on the host, in ib\'s namespace, after the container) — the same layer', async () => {
    const motd = join(work, 'motd');
    writeFileSync(motd, 'built by ib\n');
    const { ns, dk } = await deriveBoth(['--file', `${motd}:/etc/motd`, '--run', 'mkdir -p /opt/x && cp /etc/motd /opt/x/motd.copy'], 't/file');
    expect(phases(dk)).toContain('customizations (host)');
    expect(deriveEvent(dk)!.layer).toBe(deriveEvent(ns)!.layer);
  }, 300_000);

  it('reports a missing package and a failing snippet as the namespace executor does', async () => {
    const pkg = await ib(['derive', 'from', baseRef, '--install', 'ib-no-such-package', '--executor', 'docker'], { cacheDir: cache, env: env() });
    expect(pkg.code).toBe(1);
    expect(pkg.stderr).toContain('error: step derive: package "ib-no-such-package" not found in the configured mirrors\n');
    const snip = await ib(['derive', 'from', baseRef, '--run', 'echo oops >&2; exit 3', '--executor', 'docker'], { cacheDir: cache, env: env() });
    expect(snip.code).toBe(1);
    expect(snip.stderr).toContain('error: step derive: run[0] exited with code 3: echo oops >&2; exit 3\noops\n');
    const nsSnip = await ib(['derive', 'from', baseRef, '--run', 'echo oops >&2; exit 3'], { cacheDir: cache });
    expect(nsSnip.stderr).toContain('error: step derive: run[0] exited with code 3: echo oops >&2; exit 3\noops\n');
    expect((await docker(['ps', '-aq'])).stdout.trim()).toBe('');
  }, 300_000);

  it('names an unknown executor and an engine it cannot reach', async () => {
    const bad = await ib(['derive', 'from', baseRef, '--run', 'true', '--executor', 'nope'], { cacheDir: cache });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: --executor: "nope" is not valid; use namespace or docker\n');
    const gone = await ib(['derive', 'from', baseRef, '--run', 'echo unreachable', '--executor', 'docker'], { cacheDir: cache, env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain([
      'error: step derive: the docker executor cannot reach an engine at /nonexistent/docker.sock (ENOENT)',
      'hint: start dockerd (or `podman system service`) or point DOCKER_HOST at it; the default executor (namespace) needs no daemon',
      '',
    ].join('\n'));
  });
});
