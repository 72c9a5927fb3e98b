/**
 * What a step does once its tree is mounted, inside the step's namespace (the `__step` internal
 * command runs this). Order within a layer: repositories → packages → customizations (groups,
 * users, files, settings, services) → run snippets → instantiation clean-up.
 */
import { existsSync, readdirSync } from 'node:fs';
import { lstat, lutimes, readFile, readlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IbError } from '../errors.js';
import { run } from '../exec/run.js';
import { detectPackageManager, sourcesFile } from '../packages/index.js';
import { aptAuthConf, splitUriAuth } from '../recipe/uri-auth.js';
import type { LayerBody } from '../recipe/schema.js';
import {
  applyCustomizations, confinedRun, finalizeInstantiation, mountStepRoot, releaseStepRoot, removeInRoot, resolveInRoot, stepPath, symlinkInRoot, writeFileInRoot, writeStepResult,
  type StepSpec,
} from '../tree/index.js';

export type StepAction =
  | {
      kind: 'layer'; body: LayerBody; baseDir: string; sourceDateEpoch: number; packages: boolean;
      /** apt_auth.conf for the build's private repositories (aptAuthOf), present only while the step runs. */
      aptAuth?: string;
    }
  | { kind: 'initramfs'; sourceDateEpoch: number };

export const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/** How the tree's own programs run: chrooted, with the capabilities of a container (isolate.ts). */
const inTree = confinedRun(run);

export function chrootEnv(sde: number, stubs: boolean): Record<string, string> {
  return {
    PATH: stepPath(stubs),
    DEBIAN_FRONTEND: 'noninteractive',
    DEBCONF_NONINTERACTIVE_SEEN: 'true',
    // Kernel hooks skip the initramfs; the plan's final step makes it once.
    INITRD: 'No',
    SOURCE_DATE_EPOCH: String(sde),
    HOME: '/root',
    LC_ALL: 'C.UTF-8',
  };
}

async function withPolicyRcD<T>(root: string, hostTmp: string, fn: () => Promise<T>): Promise<T> {
  // A policy-rc.d that exits 101 keeps maintainer scripts from starting services. If the tree
  // already has one we bind ours over it (a bind is never copied up); otherwise we create it and
  // delete it again, which leaves nothing in the upper dir.
  const host = await resolveInRoot(root, POLICY_RC_D);
  const content = '#!/bin/sh\nexit 101\n';
  const existed = existsSync(host);
  // A dangling link there (to a path outside the tree, say) is replaced by our file for the
  // step and put back afterwards exactly as it was, so capture sees no change: deleting our file
  // used to leave a whiteout that dropped the base's link from the image.
  const linkPath = join(await resolveInRoot(root, dirname(POLICY_RC_D)), basename(POLICY_RC_D));
  const link = existed ? undefined : await lstat(linkPath).then((st) => (st.isSymbolicLink() ? st : undefined), () => undefined);
  const linkTarget = link ? await readlink(linkPath) : undefined;
  if (existed) {
    const f = join(hostTmp, 'policy-rc.d');
    await writeFile(f, content, { mode: 0o755 });
    await run('mount', ['--bind', f, host]);
  } else {
    await writeFileInRoot(root, POLICY_RC_D, content, { mode: 0o755 });
  }
  try {
    return await fn();
  } finally {
    if (existed) await run('umount', [host]);
    else await removeInRoot(root, POLICY_RC_D);
    if (link && linkTarget !== undefined) {
      await symlinkInRoot(root, POLICY_RC_D, linkTarget, { uid: link.uid, gid: link.gid });
      await lutimes(linkPath, link.atime, link.mtime);
    }
  }
}

export async function applyRepositories(root: string, body: LayerBody, baseDir: string): Promise<void> {
  for (const r of body.repositories) {
    let keyPath: string | undefined;
    if (r.signedBy) {
      const key = r.signedBy.includes('BEGIN PGP') ? Buffer.from(r.signedBy) : await readFile(join(baseDir, r.signedBy));
      const armored = key.subarray(0, 40).toString('latin1').includes('-----BEGIN');
      keyPath = `/etc/apt/keyrings/${r.name}.${armored ? 'asc' : 'gpg'}`;
      await writeFileInRoot(root, keyPath, key, { mode: 0o644 });
    }
    await writeFileInRoot(root, `/etc/apt/sources.list.d/${r.name}.sources`, sourcesFile(r, keyPath), { mode: 0o644 });
  }
}

export const APT_AUTH_DIR = '/etc/apt/auth.conf.d';
const APT_AUTH_FILE = `${APT_AUTH_DIR}/zz-ib-build-credentials.conf`;

/** The apt_auth.conf of every repository of the plan that has credentials, or undefined. */
export function aptAuthOf(steps: readonly object[]): string | undefined {
  const auths = steps.flatMap((s) => ('body' in s ? (s.body as LayerBody).repositories : [])).map((r) => splitUriAuth(r.uri).auth).filter((a) => a !== undefined);
  return auths.length > 0 ? aptAuthConf(auths) : undefined;
}

/**
 * Run `fn` with the build's repository credentials where the tree's apt reads them, and take them
 * away again (the file, and the directory if it was made for it) before the layer is captured:
 * credentials never ship in a layer.
 */
async function withAptAuth<T>(root: string, conf: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (!conf) return fn();
  const dirExisted = existsSync(await resolveInRoot(root, APT_AUTH_DIR));
  if (existsSync(await resolveInRoot(root, APT_AUTH_FILE))) throw new IbError(`the tree already has ${APT_AUTH_FILE}; ib writes the build's repository credentials there`);
  await writeFileInRoot(root, APT_AUTH_FILE, conf, { mode: 0o600 });
  try {
    return await fn();
  } finally {
    await removeInRoot(root, APT_AUTH_FILE);
    // Made for the file: gone again, unless the step's packages put files of their own there.
    if (!dirExisted) await removeInRoot(root, APT_AUTH_DIR).catch(() => undefined);
  }
}

async function layerStep(root: string, a: Extract<StepAction, { kind: 'layer' }>, hostTmp: string): Promise<void> {
  const b = a.body;
  const env = chrootEnv(a.sourceDateEpoch, true);
  await withPolicyRcD(root, hostTmp, () => withAptAuth(root, a.aptAuth, async () => {
    await applyRepositories(root, b, a.baseDir);
    if (b.packages && (b.packages.install.length > 0 || b.packages.remove.length > 0)) {
      const pm = detectPackageManager(root);
      await pm.apply(root, { install: b.packages.install, remove: b.packages.remove }, { env, run: inTree });
    }
    await applyCustomizations(root, b, { baseDir: a.baseDir, sourceDateEpoch: a.sourceDateEpoch, run: inTree });
    for (const [i, snippet] of b.run.entries()) {
      const r = await inTree('chroot', [root, '/bin/sh', '-ec', snippet], { env, allowFailure: true });
      if (r.exitCode !== 0) {
        const out = (r.stderr || r.stdout).trim().split('\n').slice(-10).join('\n');
        throw new IbError(`run[${i}] exited with code ${r.exitCode}: ${snippet.split('\n')[0]!.slice(0, 80)}${out ? `\n${out}` : ''}`, {
          hint: 'the snippet runs with /bin/sh -e inside the tree; test it with `ib derive … --run`',
        });
      }
    }
  }));
  await finalizeInstantiation(root);
}

/** Kernel versions installed in a tree. */
export function kernelVersions(root: string): string[] {
  for (const d of ['usr/lib/modules', 'lib/modules']) {
    const p = join(root, d);
    if (existsSync(p)) return readdirSync(p).filter((k) => existsSync(join(p, k, 'modules.order')) || existsSync(join(p, k, 'kernel'))).sort();
  }
  return [];
}

async function initramfsStep(root: string, a: Extract<StepAction, { kind: 'initramfs' }>): Promise<void> {
  const env = chrootEnv(a.sourceDateEpoch, false);
  delete (env as Record<string, string | undefined>).INITRD;
  const hasDracut = existsSync(join(root, 'usr/bin/dracut'));
  const hasIt = existsSync(join(root, 'usr/sbin/update-initramfs'));
  for (const kver of kernelVersions(root)) {
    if (hasDracut) {
      await inTree('chroot', [root, 'dracut', '--force', '--reproducible', '--kver', kver, `/boot/initrd.img-${kver}`], { env });
    } else if (hasIt) {
      const exists = existsSync(join(root, 'boot', `initrd.img-${kver}`));
      await inTree('chroot', [root, 'update-initramfs', exists ? '-u' : '-c', '-k', kver], { env });
    }
  }
}

/** Entry of the `__step` internal command: mount, act, report. */
export async function runStepInside(specFile: string): Promise<void> {
  const spec = JSON.parse(await readFile(specFile, 'utf8')) as StepSpec<StepAction>;
  try {
    const root = await mountStepRoot(spec.mounts);
    const hostTmp = join(spec.resultFile, '..');
    if (spec.action.kind === 'layer') await layerStep(root, spec.action, hostTmp);
    else await initramfsStep(root, spec.action);
    await releaseStepRoot(root);
    await writeStepResult(spec.resultFile);
  } catch (e) {
    await writeStepResult(spec.resultFile, e);
    throw e;
  }
}

