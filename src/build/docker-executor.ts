/**
 * The docker executor: a step runs in a container of the layers below it on a local Docker or
 * Podman engine, with no network, and its changes are read back into a layer dir that capture
 * cleans exactly as it cleans the namespace executor's upper dir — same step, same layer digest.
 *
 * What runs where, in the namespace executor's order (repositories → packages → customizations
 * → run snippets → instantiation clean-up, all under a policy-rc.d that exits 101):
 * - container: the repository files, apt-get install/purge (the tree's own apt and maintainer
 *   scripts), and `run:` snippets when the layer has no customizations;
 * - host, no namespace: apt's resolution and downloads (host-apt.ts), into the shared archive
 *   cache that the container sees at /var/cache/apt/archives;
 * - host, namespace: customizations (files, users, services, settings: ib's own TypeScript tree
 *   functions, which cannot run in a container without node) followed by the `run:` snippets,
 *   and instantiation clean-up when the tree needs it — only for layers that ask for them.
 * Bootstrap steps make the first tree with mmdebstrap on the host, as in the namespace executor.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import { phase } from '../log.js';
import { connectEngine, ensureStackImage, readChanges, StepContainer, type ContainerBind, type Engine, type EngineOptions, type IoDir } from '../engine/index.js';
import { detectPackageManager, PACKAGE_MANAGERS } from '../packages/index.js';
import { captureUpper, hasCustomizations, LowerView, runIsolated } from '../tree/index.js';
import { aptRoute, debianArch, instantiationNeeded, kernelVersionsIn } from './docker-steps.js';
import type { Executor, StepContext } from './executors.js';
import { runStep, stubDir } from './execute.js';
import { prepareAptRoot } from './host-apt.js';
import { APT_AUTH_DIR, aptAuthOf, applyRepositories, chrootEnv, POLICY_RC_D, type StepAction } from './step-inside.js';

const IO = '/run/ib/io';
const POLICY_TEXT = '#!/bin/sh\nexit 101\n';

export function dockerExecutor(opts: EngineOptions = {}): Executor {
  let engine: Promise<Engine> | undefined;
  return {
    name: 'docker',
    async runStep(ctx) {
      if (ctx.step.kind === 'bootstrap' || ctx.stack.length === 0) return runStep(ctx.o, ctx.plan, ctx.step, ctx.lowers, ctx.work);
      return engineStep(await (engine ??= reachable(connectEngine(opts))), ctx);
    },
  };
}

async function reachable(engine: Engine): Promise<Engine> {
  try {
    await engine.docker.ping();
    return engine;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as { statusCode?: number }).statusCode ?? (e as Error).message;
    throw new IbError(`the docker executor cannot reach an engine at ${engine.socket} (${code})`, {
      hint: 'start dockerd (or `podman system service`) or point DOCKER_HOST at it; the default executor (namespace) needs no daemon',
    });
  }
}

/** Files under `dir` (relative paths), for copying a scratch root into the container. */
async function filesUnder(dir: string, rel = ''): Promise<{ rel: string; mode: number }[]> {
  const out: { rel: string; mode: number }[] = [];
  for (const e of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, r)));
    else if (e.isFile()) out.push({ rel: r, mode: (await stat(join(dir, r))).mode & 0o7777 });
  }
  return out;
}

async function engineStep(engine: Engine, ctx: StepContext): Promise<string> {
  const { o, plan, step, lowers, work } = ctx;
  const sde = plan.sourceDateEpoch;
  const view = new LowerView(lowers);
  const image = await phase('engine image', () => ensureStackImage(engine, o.store, ctx.stack, plan.architecture));
  const io = join(work, 'io');
  await mkdir(io, { recursive: true });
  const upper = join(work, 'upper');
  const layer = step.kind === 'layer' ? step : undefined;
  const body = layer?.body;
  const packages = !!body && (!!body.packages?.install.length || !!body.packages?.remove.length || body.repositories.length > 0);
  const customize = !!body && hasCustomizations(body);
  const policyInTree = !!layer && (await view.lookup(POLICY_RC_D.slice(1))) !== undefined;

  const binds: ContainerBind[] = [{ src: io, dst: IO }];
  if (layer) binds.push({ src: await stubDir(o.paths), dst: '/run/ib/bin', readonly: true });
  if (packages) {
    binds.push({ src: o.paths.aptArchives, dst: '/var/cache/apt/archives' }, { src: o.paths.aptLists, dst: '/var/lib/apt/lists' });
  }
  if (policyInTree) {
    // The tree's own policy-rc.d is covered, never changed (a bind is not a change of the layer).
    await writeFile(join(work, 'policy-rc.d'), POLICY_TEXT, { mode: 0o755 });
    binds.push({ src: join(work, 'policy-rc.d'), dst: POLICY_RC_D, readonly: true });
  }
  const c = await StepContainer.start(engine, {
    image,
    // Namespace steps run in a private UTS namespace named localhost; maintainer scripts that
    // record the hostname must see the same one under both executors.
    hostname: 'localhost',
    binds,
    tmpfs: { '/run': 'mode=755', '/tmp': 'mode=1777' },
  });
  try {
    await phase('container', async () => {
      if (layer && body) {
        const env = chrootEnv(sde, true);
        if (!policyInTree) await c.execOk(['/bin/sh', '-c', `printf '#!/bin/sh\\nexit 101\\n' > ${POLICY_RC_D} && chmod 0755 ${POLICY_RC_D}`]);
        const repos = join(io, 'repos');
        await mkdir(repos);
        await applyRepositories(repos, body, layer.baseDir);
        for (const f of await filesUnder(repos)) {
          await c.execOk(['install', '-D', '-m', f.mode.toString(8), '-o', '0', '-g', '0', `${IO}/repos/${f.rel}`, `/${f.rel}`]);
        }
        if (body.packages && (body.packages.install.length > 0 || body.packages.remove.length > 0)) {
          if (!(await view.lookup('usr/bin/apt-get')) || !(await view.lookup('var/lib/dpkg'))) detectPackageManager(io);
          const aptRoot = await prepareAptRoot(view, join(work, 'aptroot'), { architecture: debianArch(plan.architecture), lists: o.paths.aptLists, archives: o.paths.aptArchives }, repos);
          // The host's apt fetches: it alone gets the repository credentials, in its private root.
          const aptAuth = aptAuthOf(plan.steps);
          if (aptAuth) {
            await mkdir(join(aptRoot.dir, APT_AUTH_DIR), { recursive: true });
            await writeFile(join(aptRoot.dir, APT_AUTH_DIR, 'zz-ib-build-credentials.conf'), aptAuth, { mode: 0o600 });
          }
          await PACKAGE_MANAGERS.apt!.apply(aptRoot.dir, { install: body.packages.install, remove: body.packages.remove }, { env, run: aptRoute(c, aptRoot) });
        }
        if (!customize) {
          for (const [i, snippet] of body.run.entries()) {
            const r = await c.exec(['/bin/sh', '-ec', snippet], env);
            if (r.exitCode !== 0) throw snippetError(i, snippet, r);
          }
        }
        if (!policyInTree) await c.execOk(['rm', '-f', POLICY_RC_D]);
      } else if (step.kind === 'initramfs') {
        await initramfsInContainer(c, view, sde);
      }
    });
    await phase('reading changes', () => readChanges(c, { host: io, container: IO } satisfies IoDir, upper));
  } finally {
    await c.remove();
  }
  if (layer && body && (customize || (await instantiationNeeded(new LowerView([upper, ...lowers]), upper)))) {
    // ib's tree functions need the merged tree: the container's changes become the upper dir of
    // an overlay in ib's namespace, and the customizations continue in it.
    const action: StepAction = {
      kind: 'layer', body: { ...body, repositories: [], packages: undefined, run: customize ? body.run : [] },
      baseDir: layer.baseDir, sourceDateEpoch: sde, packages: false,
    };
    await phase('customizations (host)', async () => {
      await mkdir(join(work, 'work'), { recursive: true });
      await runIsolated({
        mounts: { lowers, upper, work: join(work, 'work'), merged: join(work, 'merged'), network: false, binds: [], stubDir: await stubDir(o.paths) },
        action,
        resultFile: join(work, 'result.json'),
      }, join(work, 'spec.json'));
    });
  }
  await captureUpper(upper, lowers, { sourceDateEpoch: sde });
  return upper;
}

/** The namespace executor's `run:` failure, word for word (step-inside.ts). */
function snippetError(i: number, snippet: string, r: { exitCode: number; stdout: string; stderr: string }): IbError {
  const out = (r.stderr || r.stdout).trim().split('\n').slice(-10).join('\n');
  return new IbError(`run[${i}] exited with code ${r.exitCode}: ${snippet.split('\n')[0]!.slice(0, 80)}${out ? `\n${out}` : ''}`, {
    hint: 'the snippet runs with /bin/sh -e inside the tree; test it with `ib derive … --run`',
  });
}

/** The namespace executor's initramfs step (step-inside.ts), in the container. */
async function initramfsInContainer(c: StepContainer, view: LowerView, sde: number): Promise<void> {
  const env = chrootEnv(sde, false);
  delete (env as Record<string, string | undefined>).INITRD;
  const hasDracut = (await view.lookup('usr/bin/dracut')) !== undefined;
  const hasIt = (await view.lookup('usr/sbin/update-initramfs')) !== undefined;
  for (const kver of await kernelVersionsIn(view)) {
    if (hasDracut) {
      await c.execOk(['dracut', '--force', '--reproducible', '--kver', kver, `/boot/initrd.img-${kver}`], env);
    } else if (hasIt) {
      const exists = (await view.lookup(`boot/initrd.img-${kver}`)) !== undefined;
      await c.execOk(['update-initramfs', exists ? '-u' : '-c', '-k', kver], env);
    }
  }
}
