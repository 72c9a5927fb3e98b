import { describe, expect, it } from 'vitest';
import type { RunOptions, RunResult } from '../exec/run.js';
import { aptRoute, aptVerb, debianArch } from './docker-steps.js';

const OPTS = ['-o', 'APT::Sandbox::User=root', '-o', 'Acquire::Languages=none'];

describe('aptVerb', () => {
  it('skips option pairs', () => {
    expect(aptVerb(['apt-get', ...OPTS, '-q', 'update'])).toBe('update');
    expect(aptVerb(['apt-get', ...OPTS, '-y', '-q', '--no-install-recommends', 'install', 'htop'])).toBe('install');
    expect(aptVerb(['apt-get', '-q'])).toBeUndefined();
  });
});

describe('aptRoute', () => {
  const root = { dir: '/w/aptroot', env: { APT_CONFIG: '/w/aptroot/apt.conf' } };
  const ok: RunResult = { stdout: '', stderr: '', exitCode: 0 };

  function recorder(hostResult: (args: readonly string[]) => RunResult) {
    const calls: string[] = [];
    const host = async (cmd: string, args: readonly string[], opts?: RunOptions) => {
      calls.push(`host ${opts?.env?.APT_CONFIG}: ${cmd} ${args.join(' ')}`);
      return hostResult(args);
    };
    const container = { exec: async (argv: readonly string[], env?: Record<string, string>) => {
      calls.push(`container ${env?.DEBIAN_FRONTEND ?? '-'}: ${argv.join(' ')}`);
      return ok;
    } };
    return { calls, route: aptRoute(container, root, host) };
  }

  it('updates and downloads on the host, installs and purges in the container', async () => {
    const { calls, route } = recorder(() => ok);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    await route('chroot', [root.dir, 'apt-get', ...OPTS, '-q', 'update'], { env, allowFailure: true });
    await route('chroot', [root.dir, 'apt-get', ...OPTS, '-y', 'install', 'htop'], { env, allowFailure: true });
    await route('chroot', [root.dir, 'apt-get', ...OPTS, '-y', 'purge', 'nano'], { env, allowFailure: true });
    expect(calls).toEqual([
      `host /w/aptroot/apt.conf: apt-get ${OPTS.join(' ')} -q update`,
      `host /w/aptroot/apt.conf: apt-get ${OPTS.join(' ')} -y install htop --download-only`,
      `container noninteractive: apt-get ${OPTS.join(' ')} -y install htop`,
      `container noninteractive: apt-get ${OPTS.join(' ')} -y purge nano`,
    ]);
  });

  it('hands a failed download back to the apt backend without installing', async () => {
    const failed: RunResult = { stdout: '', stderr: 'E: Unable to locate package nope\n', exitCode: 100 };
    const { calls, route } = recorder(() => failed);
    expect(await route('chroot', [root.dir, 'apt-get', '-y', 'install', 'nope'], { allowFailure: true })).toEqual(failed);
    expect(calls).toEqual(['host /w/aptroot/apt.conf: apt-get -y install nope --download-only']);
  });

  it('refuses commands that are not for the tree', async () => {
    const { route } = recorder(() => ok);
    await expect(route('mount', ['--bind', '/a', '/b'])).rejects.toThrow('the docker executor cannot route `mount --bind /a /b`');
  });
});

describe('debianArch', () => {
  it('maps the OCI names that differ', () => {
    expect(['amd64', 'arm64', '386', 'arm', 'ppc64le', 's390x'].map(debianArch)).toEqual(['amd64', 'arm64', 'i386', 'armhf', 'ppc64el', 's390x']);
  });
});
