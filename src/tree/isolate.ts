/**
 * Isolated steps: a step runs in a new mount and pid namespace (`unshare`) with its tree mounted
 * as an overlay — earlier layers as read-only lowers, an empty upper dir that becomes the step's
 * layer. Every mount dies with the namespace, even when ib crashes, so nothing leaks onto the host.
 *
 * The parent side spawns `unshare … node <ib> __step SPEC`; the child side (`mountStepRoot`) makes
 * the mounts and hands the merged root to the step. Errors cross back as JSON in a result file.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hintOf, IbError, messageChain } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { resolveInRoot } from './resolve.js';

export interface Bind {
  /** Host path. */
  src: string;
  /** Path inside the tree (absolute, resolved safely inside the root). */
  dst: string;
  readonly?: boolean;
}

export interface StepMounts {
  /** Layer dirs, topmost first. Empty for a step that writes straight into `upper`. */
  lowers: string[];
  upper: string;
  work: string;
  merged: string;
  binds: Bind[];
  /** Bind the host's resolv.conf over the tree's while the step runs (never copied up). */
  network: boolean;
  /** Host dir of programs put first on PATH (stubs for update-initramfs/dracut). */
  stubDir?: string;
}

export interface StepSpec<A = unknown> {
  mounts: StepMounts;
  action: A;
  resultFile: string;
}

/** The `ib` entry script, for re-executing ourselves inside the namespace. */
export function ibEntry(): string {
  const here = fileURLToPath(import.meta.url);
  // Under vitest we run from src/*.ts; the namespace child needs the compiled dist/ (npm test builds it).
  const js = here.replace(/\/src\/tree\/isolate\.ts$/, '/dist/tree/isolate.js');
  const entry = join(dirname(js), '..', 'cli', 'main.js');
  if (!existsSync(entry)) throw new IbError(`cannot find ${entry}`, { hint: 'run `npm run build` first' });
  return entry;
}

/** Parent side: run a step spec in a fresh mount+pid namespace and surface its error, if any. */
export async function runIsolated<A>(spec: StepSpec<A>, specFile: string, opts: { run?: Run; inherit?: boolean } = {}): Promise<void> {
  const run = opts.run ?? defaultRun;
  // 0600: a step's body may carry repository credentials (uri-auth.ts).
  await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 });
  const r = await run('unshare', ['--mount', '--propagation', 'private', '--uts', '--pid', '--fork', '--kill-child', '--', process.execPath, ibEntry(), '__step', specFile], {
    // unshare --fork blocks SIGTERM; SIGKILL takes the whole pid namespace (and its mounts) down
    // at once, and the step's upper dir is thrown away anyway.
    allowFailure: true, inherit: opts.inherit, killSignal: 'SIGKILL', killGroup: true,
  });
  if (r.exitCode === 0) return;
  const result = await readFile(spec.resultFile, 'utf8').then((t) => JSON.parse(t) as { error?: { message: string; hint?: string } }).catch(() => undefined);
  if (result?.error) throw new IbError(result.error.message, { hint: result.error.hint });
  const tail = (r.stderr || r.stdout).trim().split('\n').slice(-20).join('\n');
  throw new IbError(`isolated step failed with exit code ${r.exitCode}${tail ? `:\n${tail}` : ''}`);
}

/** Child side: make the mounts for a step. Runs inside the private namespace only. */
export async function mountStepRoot(m: StepMounts, run: Run = defaultRun): Promise<string> {
  // A private UTS namespace: maintainer scripts that record the hostname see the same one on
  // every build machine, not the build host's.
  await run('hostname', ['localhost']);
  const root = m.merged;
  await mkdir(root, { recursive: true });
  if (m.lowers.length > 0) {
    // Mount data is limited to one page: give lowers relative to a common parent (the mount
    // syscall resolves them against mount(8)'s cwd), so 60+ layers fit.
    const cwd = dirname(m.lowers[0]!);
    const rel = (p: string) => (dirname(p) === cwd ? relative(cwd, p) : p);
    // nodev: dpkg may make device nodes (CAP_MKNOD), but nothing can open one in the tree: a
    // step that makes the host disk's node finds it dead. /dev gets its own mount below.
    const data = `lowerdir=${m.lowers.map(rel).join(':')},upperdir=${m.upper},workdir=${m.work},redirect_dir=off,metacopy=off,index=off,xino=off`;
    await run('mount', ['-t', 'overlay', '-o', `nodev,${data}`, 'overlay', root], { cwd });
  } else {
    await run('mount', ['--bind', m.upper, root]);
    await run('mount', ['-o', 'remount,bind,nodev', root]);
  }
  const inRoot = async (p: string, kind: 'dir' | 'file') => {
    const host = await resolveInRoot(root, p);
    if (!existsSync(host)) {
      if (kind === 'dir') await mkdir(host, { recursive: true });
      else {
        await mkdir(dirname(host), { recursive: true });
        await writeFile(host, '');
      }
    }
    return host;
  };
  await run('mount', ['-t', 'proc', 'proc', await inRoot('/proc', 'dir')]);
  await run('mount', ['-t', 'sysfs', '-o', 'ro', 'sysfs', await inRoot('/sys', 'dir')]);
  // A /dev of its own, as container runtimes give: the harmless nodes bound from the host, a
  // private devpts and shm. Never the host's /dev, where a step could reach the disks or leave
  // files behind on the host.
  const dev = await inRoot('/dev', 'dir');
  await run('mount', ['-t', 'tmpfs', '-o', 'mode=755,nosuid,noexec,nodev', 'tmpfs', dev]);
  for (const node of STEP_DEV_NODES) {
    await writeFile(join(dev, node), '');
    await run('mount', ['--bind', `/dev/${node}`, join(dev, node)]);
  }
  await mkdir(join(dev, 'pts'));
  await mkdir(join(dev, 'shm'), { mode: 0o1777 });
  await run('mount', ['-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=620', 'devpts', join(dev, 'pts')]);
  await run('mount', ['-t', 'tmpfs', '-o', 'mode=1777,nosuid,nodev', 'tmpfs', join(dev, 'shm')]);
  await symlink('pts/ptmx', join(dev, 'ptmx'));
  for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]) {
    await symlink(target!, join(dev, name!));
  }
  // Scratch space of maintainer scripts must not end up in the layer.
  await run('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', await inRoot('/run', 'dir')]);
  await run('mount', ['-t', 'tmpfs', '-o', 'mode=1777', 'tmpfs', await inRoot('/tmp', 'dir')]);
  if (m.network && existsSync('/etc/resolv.conf')) {
    // A copy, not the host's file: a bind of /etc/resolv.conf itself let a `run:` snippet or a
    // postinst that rewrites resolv.conf rewrite the build host's.
    const copy = join(dirname(m.work), 'resolv.conf');
    await copyFile('/etc/resolv.conf', copy);
    const target = await resolveInRoot(root, '/etc/resolv.conf');
    // A tree whose resolv.conf links to a missing file gets one (and its dirs) for the step;
    // releaseStepRoot removes them again, or they would end up in the layer.
    const made = existsSync(target) ? [] : await makeFile(target);
    await run('mount', ['--bind', copy, target]);
    created.set(root, { mount: target, paths: made });
  }
  for (const b of m.binds) {
    await mkdir(b.src, { recursive: true });
    const target = await inRoot(b.dst, 'dir');
    await run('mount', ['--bind', b.src, target]);
    if (b.readonly) await run('mount', ['-o', 'remount,bind,ro', target]);
  }
  if (m.stubDir) {
    const target = await inRoot('/run/ib/bin', 'dir');
    await run('mount', ['--bind', '-o', 'ro', m.stubDir, target]);
  }
  return root;
}

const created = new Map<string, { mount: string; paths: string[] }>();

/** Create a file and its missing parents; returns what was created, deepest first. */
async function makeFile(path: string): Promise<string[]> {
  const dirs: string[] = [];
  for (let d = dirname(path); !existsSync(d); d = dirname(d)) dirs.push(d);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, '');
  return [path, ...dirs];
}

/** Child side, after the step: undo what mountStepRoot had to create inside the tree. */
export async function releaseStepRoot(root: string, run: Run = defaultRun): Promise<void> {
  const c = created.get(root);
  if (!c || c.paths.length === 0) return;
  await run('umount', [c.mount]);
  const [file, ...dirs] = c.paths;
  await rm(file!, { force: true });
  // Only empty dirs go: the step may have put its own files there.
  for (const d of dirs) await rmdir(d).catch(() => undefined);
}

/** Device nodes a step sees in its /dev (bound from the host's). */
export const STEP_DEV_NODES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

/**
 * Capabilities the commands of a step keep (Docker's default set): enough for dpkg, maintainer
 * scripts, useradd and setcap; not CAP_SYS_ADMIN (no mounts, so no way back to the host's
 * filesystems), SYS_MODULE, SYS_RAWIO, SYS_PTRACE, SYS_TIME, NET_ADMIN, SYS_BOOT, ….
 */
export const STEP_CAPS = [
  'chown', 'dac_override', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'net_bind_service',
  'net_raw', 'sys_chroot', 'mknod', 'audit_write', 'setfcap',
] as const;

/**
 * A runner for inside a step: every `chroot` into the tree runs under `setpriv` with the bounding
 * and inheritable sets cut to STEP_CAPS, so the tree's own programs (the base image's apt, dpkg,
 * maintainer scripts, `run:` snippets) never hold the capabilities ib kept to set the step up.
 */
export function confinedRun(run: Run = defaultRun): Run {
  const caps = `-all,${STEP_CAPS.map((c) => `+${c}`).join(',')}`;
  return (cmd, args, opts) => (cmd === 'chroot'
    ? run('setpriv', ['--bounding-set', caps, '--inh-caps', '-all', '--', 'chroot', ...args], opts)
    : run(cmd, args, opts));
}

/** PATH for commands chrooted into a step root. */
export function stepPath(withStubs: boolean): string {
  return `${withStubs ? '/run/ib/bin:' : ''}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
}

/** Child side: write the step's outcome for the parent. */
export async function writeStepResult(file: string, err?: unknown): Promise<void> {
  const error = err === undefined ? undefined : {
    message: messageChain(err).join(': '),
    hint: hintOf(err),
  };
  await writeFile(file, JSON.stringify({ ok: err === undefined, error }));
}
