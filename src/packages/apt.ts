/**
 * The apt backend: applies a package delta to a mounted tree, from inside the step's namespace.
 * The PackageManager interface leaves room for dnf and apk; `detect` picks one from the base.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import type { LayerBody } from '../recipe/schema.js';
import { splitUriAuth } from '../recipe/uri-auth.js';
import { parseDpkgStatus } from './dpkg-status.js';

export interface PackageDelta {
  install: string[];
  remove: string[];
}

export interface PackageManager {
  name: string;
  /** Does this tree use this package manager? */
  detect(root: string): boolean;
  /** Installed package names → versions. */
  installed(root: string): Promise<Map<string, string>>;
  /** Apply a delta inside a mounted root (runs inside the step namespace). */
  apply(root: string, delta: PackageDelta, ctx: { env: Record<string, string>; run?: Run }): Promise<void>;
}

type Repository = LayerBody['repositories'][number];

/** The deb822 sources file for an extra repository: its URI without credentials (see uri-auth.ts). */
export function sourcesFile(r: Repository, keyPath?: string): string {
  return [
    'Types: deb',
    `URIs: ${splitUriAuth(r.uri).uri}`,
    `Suites: ${r.suites.join(' ')}`,
    `Components: ${r.components.join(' ')}`,
    ...(keyPath ? [`Signed-By: ${keyPath}`] : []),
    '',
  ].join('\n');
}

// force-unsafe-io: dpkg skips its fsync before every rename (thousands for a kernel's modules).
// The step's upper dir is scratch until ib writes the layer, which is what has to be durable
// (as docker builds and mmdebstrap do).
const APT_OPTS = [
  '-o', 'APT::Sandbox::User=root', '-o', 'Acquire::Languages=none', '-o', 'Dpkg::Use-Pty=0', '-o', 'Acquire::Retries=3',
  '-o', 'Dpkg::Options::=--force-unsafe-io',
];

function missingPackages(stderr: string): string[] {
  return [...stderr.matchAll(/Unable to locate package (\S+)|Package '?([^' ]+)'? has no installation candidate|E: Version '([^']+)' for '([^']+)' was not found/g)]
    .map((m) => m[1] ?? m[2] ?? `${m[4]}=${m[3]}`);
}

export const apt: PackageManager = {
  name: 'apt',
  detect: (root) => existsSync(join(root, 'usr/bin/apt-get')) && existsSync(join(root, 'var/lib/dpkg')),
  async installed(root) {
    const text = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8');
    return new Map(parseDpkgStatus(text).map((p) => [p.name, p.version]));
  },
  async apply(root, delta, ctx) {
    const run = ctx.run ?? defaultRun;
    const chroot = (args: string[]) => run('chroot', [root, ...args], { env: ctx.env, allowFailure: true });
    if (delta.remove.length > 0) {
      const have = await this.installed(root);
      const absent = delta.remove.filter((p) => !have.has(p.split('=')[0]!.split(':')[0]!));
      if (absent.length > 0) {
        throw new IbError(`cannot remove ${absent.map((p) => `"${p}"`).join(', ')}: not installed in this image`, {
          hint: 'drop it from packages.remove (ib diff / dpkg -l shows what the base has)',
        });
      }
    }
    if (delta.install.length > 0) {
      const u = await chroot(['apt-get', ...APT_OPTS, '-q', 'update']);
      if (u.exitCode !== 0 || /^(E|W): Failed to fetch/m.test(u.stderr)) {
        throw new IbError(`apt-get update failed:\n${(u.stderr || u.stdout).trim().split('\n').slice(-8).join('\n')}`, {
          hint: 'check the mirror and repositories (uri, suites, signedBy) of the recipe',
        });
      }
      const r = await chroot(['apt-get', ...APT_OPTS, '-y', '-q', '--no-install-recommends', 'install', ...delta.install]);
      if (r.exitCode !== 0) {
        const missing = missingPackages(r.stderr);
        if (missing.length > 0) {
          throw new IbError(`package${missing.length > 1 ? 's' : ''} ${missing.map((p) => `"${p}"`).join(', ')} not found in the configured mirrors`, {
            hint: 'check the name (apt-cache search NAME), or add the repository that has it under repositories:',
          });
        }
        throw new IbError(`apt-get install ${delta.install.join(' ')} failed (exit ${r.exitCode}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-12).join('\n')}`);
      }
    }
    if (delta.remove.length > 0) {
      const r = await chroot(['apt-get', ...APT_OPTS, '-y', '-q', 'purge', ...delta.remove]);
      if (r.exitCode !== 0) {
        throw new IbError(`apt-get purge ${delta.remove.join(' ')} failed (exit ${r.exitCode}):\n${(r.stderr || r.stdout).trim().split('\n').slice(-12).join('\n')}`);
      }
    }
  },
};

/** Package managers by name: one table line per backend. */
export const PACKAGE_MANAGERS: Record<string, PackageManager> = { apt };

export function detectPackageManager(root: string): PackageManager {
  for (const pm of Object.values(PACKAGE_MANAGERS)) if (pm.detect(root)) return pm;
  throw new IbError(`no supported package manager found in the image`, { hint: `supported: ${Object.keys(PACKAGE_MANAGERS).join(', ')} (dnf and apk are planned)` });
}
