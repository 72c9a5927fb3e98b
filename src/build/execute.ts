/**
 * Executes a Plan: for each step, a cache hit reuses its layer and does no work; a miss mounts the
 * earlier layers as overlay lowers, runs the step isolated, captures the upper dir as a layer dir
 * and writes it to the store as one OCI layer. Where overlayfs is missing the step runs on a copy
 * of the earlier layers instead and scan-diff finds the same layer dir (see runStep).
 */
import { existsSync, readdirSync } from 'node:fs';
import { lutimes, mkdir, mkdtemp, readdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError, wrap } from '../errors.js';
import { withLock } from '../exec/lock.js';
import { emit, phase } from '../log.js';
import type { Store } from '../oci/index.js';
import { extractLayer, writeLayer } from '../oci/index.js';
import { bootstrap } from '../packages/index.js';
import { bodyIsEmpty } from '../recipe/load.js';
import type { Plan, Step } from '../recipe/plan.js';
import type { LayerBody } from '../recipe/schema.js';
import { captureUpper, materializeLayers, overlaySupported, runIsolated, scanDiff, type StepMounts } from '../tree/index.js';
import { layerDir, readStep, writeStep, type CachePaths, type StepRecord } from './cache.js';
import { aptAuthOf, type StepAction } from './step-inside.js';
import type { Executor } from './executors.js';

export interface BuiltLayer {
  step: Step;
  record: StepRecord;
}

export interface ExecuteOptions {
  paths: CachePaths;
  store: Store;
  compression?: 'gzip' | 'zstd';
  /** Layers of a `from:` base, bottom first (already in the store). */
  baseLayers?: { digest: string; diffId: string; size: number; mediaType: string }[];
  /**
   * A shared build cache (`--cache-from`): step key → layer, and how to fetch such a layer. A step
   * found there is pulled instead of run, so a second machine builds by downloading.
   */
  remoteCache?: { steps: Map<string, StepRecord>; fetch: (layer: NonNullable<StepRecord['layer']>) => Promise<void> };
  /** Where a step that misses the cache runs (executors.ts); default: runStep below, in a namespace. */
  executor?: Executor;
}

function describeStep(s: Step): string {
  if (s.kind === 'bootstrap') return `bootstrap ${s.bootstrap.distro} ${s.bootstrap.suite} (${s.bootstrap.variant}${s.bootstrap.include.length ? ` + ${s.bootstrap.include.join(' ')}` : ''})`;
  if (s.kind === 'initramfs') return 'initramfs';
  const b = s.body;
  const parts: string[] = [];
  if (b.packages?.install.length) parts.push(`install ${b.packages.install.join(' ')}`);
  if (b.packages?.remove.length) parts.push(`remove ${b.packages.remove.join(' ')}`);
  if (b.files.length) parts.push(`${b.files.length} file(s)`);
  if (b.users.length) parts.push(`users ${b.users.map((u) => u.name).join(' ')}`);
  if (b.run.length) parts.push(`${b.run.length} run snippet(s)`);
  return `${s.name}: ${parts.join(', ') || 'settings'}`;
}

/** Make sure each layer has its unpacked dir (a layer from --cache-from or a pull may not). */
async function materialize(o: ExecuteOptions, layers: { digest: string; diffId: string; mediaType: string }[]): Promise<string[]> {
  const dirs: string[] = [];
  for (const l of layers) {
    const dir = layerDir(o.paths, l.diffId);
    if (!existsSync(dir)) {
      await extractLayer(o.store, l, dir);
    }
    dirs.push(dir);
  }
  return dirs;
}

export async function stubDir(paths: CachePaths): Promise<string> {
  // Symlinks to the tree's own /bin/true: update-initramfs and dracut become no-ops in package steps.
  const dir = join(paths.root, 'stubs');
  if (!existsSync(join(dir, 'dracut'))) {
    const tmp = `${dir}.${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    for (const n of ['update-initramfs', 'dracut']) await symlink('/bin/true', join(tmp, n));
    await rename(tmp, dir).catch(async () => rm(tmp, { recursive: true, force: true }));
  }
  return dir;
}

export async function runStep(o: ExecuteOptions, plan: Plan, step: Step, lowers: string[], work: string): Promise<string> {
  const upper = join(work, 'upper');
  const sde = plan.sourceDateEpoch;
  // Without overlayfs `mount -t overlay` fails ("unknown filesystem type 'overlay'"): the step
  // then runs on a private copy of the layers below (bound as the root, as a bootstrap's tree is)
  // and scan-diff compares it with them, which gives the layer dir capture gives, byte for byte
  // (noise and unchanged entries dropped by the same rules), for a full copy of the tree.
  const scan = step.kind !== 'bootstrap' && lowers.length > 0 && !overlaySupported();
  const root = scan ? join(work, 'root') : upper;
  const packages = step.kind === 'layer' && (!!step.body.packages?.install.length || !!step.body.packages?.remove.length || step.body.repositories.length > 0);
  const mounts = (low: string[]): StepMounts => ({
    lowers: scan ? [] : low,
    upper: root,
    work: join(work, 'work'),
    merged: join(work, 'merged'),
    network: packages,
    binds: packages ? [
      { src: o.paths.aptArchives, dst: '/var/cache/apt/archives' },
      { src: o.paths.aptLists, dst: '/var/lib/apt/lists' },
    ] : [],
  });
  // The build's repository credentials, for steps whose apt or run: snippets may read those repositories.
  const aptAuth = aptAuthOf(plan.steps);
  const authFor = (body: LayerBody, pk: boolean) => (aptAuth && (pk || body.run.length > 0) ? { aptAuth } : {});
  const isolated = async (action: StepAction, low: string[], stubs: boolean) => {
    await mkdir(join(work, 'work'), { recursive: true });
    const m = mounts(low);
    if (stubs) m.stubDir = await stubDir(o.paths);
    const go = () => runIsolated({ mounts: m, action, resultFile: join(work, 'result.json') }, join(work, 'spec.json'));
    // apt's lists and archives dirs are shared by every build of this cache dir, and apt-get
    // does not wait for their locks: two package steps at once failed with "Could not get lock
    // /var/lib/apt/lists/lock". They take turns instead.
    await (m.network ? withLock(join(o.paths.root, 'apt', 'lock'), go, 'the apt cache lock') : go());
  };
  if (step.kind === 'bootstrap') {
    await bootstrap({ spec: step.bootstrap, target: upper, archivesCache: o.paths.aptArchives, sourceDateEpoch: sde });
    // sync-in brings apt's partial/ from the shared archive cache with that cache's mtime (an
    // empty cache: made now, clamped to SDE; a used one: whatever the last build left): pin it.
    await lutimes(join(upper, 'var/cache/apt/archives/partial'), sde, sde).catch(() => undefined);
    if (!bodyIsEmpty(step.body)) {
      await isolated({ kind: 'layer', body: step.body, baseDir: step.baseDir, sourceDateEpoch: sde, packages: false, ...authFor(step.body, false) }, [], true);
    }
  } else {
    if (scan) await phase('copying the tree (no overlayfs)', () => materializeLayers(lowers, root));
    else await mkdir(upper, { recursive: true });
    if (step.kind === 'layer') await isolated({ kind: 'layer', body: step.body, baseDir: step.baseDir, sourceDateEpoch: sde, packages, ...authFor(step.body, packages) }, lowers, true);
    else await isolated({ kind: 'initramfs', sourceDateEpoch: sde }, lowers, false);
  }
  if (scan) await phase('comparing the tree (no overlayfs)', () => scanDiff(lowers, root, upper, { sourceDateEpoch: sde }));
  else await captureUpper(upper, lowers, { sourceDateEpoch: sde });
  return upper;
}

/** Paths whose change means the initramfs must be made again. */
const INITRAMFS_INPUTS = ['usr/lib/modules', 'lib/modules', 'etc/initramfs-tools', 'usr/share/initramfs-tools', 'etc/dracut.conf.d', 'etc/dracut.conf', 'usr/lib/dracut', 'etc/modprobe.d', 'etc/crypttab', 'etc/fstab'];

/**
 * The final initramfs step runs only when it has something to do: a kernel without an initrd, or
 * a layer of this build that changed what goes into one. A derive that adds htop skips it.
 */
function initramfsNeeded(ownLayerDirs: string[], allDirs: string[]): boolean {
  const kernels = new Set<string>();
  for (const d of allDirs) for (const m of ['usr/lib/modules', 'lib/modules']) {
    const p = join(d, m);
    if (existsSync(p)) for (const k of readdirSync(p)) if (existsSync(join(p, k, 'kernel')) || existsSync(join(p, k, 'modules.order'))) kernels.add(k);
  }
  if (kernels.size === 0) return false;
  for (const k of kernels) if (!allDirs.some((d) => existsSync(join(d, 'boot', `initrd.img-${k}`)))) return true;
  return ownLayerDirs.some((d) => INITRAMFS_INPUTS.some((p) => existsSync(join(d, p))));
}

export async function executePlan(plan: Plan, o: ExecuteOptions): Promise<BuiltLayer[]> {
  const built: BuiltLayer[] = [];
  // Bottom first; layer dirs are materialised only when a step actually has to run.
  const stack: { digest: string; diffId: string; size: number; mediaType: string }[] = [...(o.baseLayers ?? [])];
  const baseCount = stack.length;
  for (const step of plan.steps) {
    let cached = await readStep(o.paths, step.key);
    const remote = o.remoteCache?.steps.get(step.key);
    if (!(cached && (cached.empty || (cached.layer && (await o.store.hasBlob(cached.layer.digest))))) && remote) {
      if (remote.layer) await o.remoteCache!.fetch(remote.layer);
      await writeStep(o.paths, remote);
      cached = remote;
    }
    if (cached && (cached.empty || (cached.layer && (await o.store.hasBlob(cached.layer.digest))))) {
      emit({ event: 'step-cached', step: step.name, key: step.key, layer: cached.layer?.digest });
      built.push({ step, record: cached });
      if (cached.layer) stack.push(cached.layer);
      continue;
    }
    const t0 = performance.now();
    const lowers = (await materialize(o, stack)).reverse();
    if (step.kind === 'initramfs' && !initramfsNeeded(lowers.slice(0, stack.length - baseCount), lowers)) {
      const record: StepRecord = { key: step.key, empty: true, createdBy: 'ib initramfs (unchanged)' };
      await writeStep(o.paths, record);
      built.push({ step, record });
      emit({ event: 'step-finished', step: step.name, key: step.key, seconds: (performance.now() - t0) / 1000 });
      continue;
    }
    emit({ event: 'step-started', step: step.name, key: step.key, kind: step.kind });
    const work = await mkdtemp(join(o.paths.tmp, `step-${process.pid}-`));
    try {
      const ran = o.executor ? o.executor.runStep({ o, plan, step, lowers, stack: [...stack], work }) : runStep(o, plan, step, lowers, work);
      const upper = await ran.catch((e) => {
        throw wrap(`step ${step.name}`, e);
      });
      const empty = (await readdir(upper)).length === 0;
      const layer = empty ? undefined : await writeLayer(upper, o.store, { lowerDirs: lowers, sourceDateEpoch: plan.sourceDateEpoch, compression: o.compression });
      const record: StepRecord = {
        key: step.key,
        empty,
        layer: !layer ? undefined : { digest: layer.digest, diffId: layer.diffId, size: layer.size, mediaType: layer.mediaType },
        createdBy: `ib ${describeStep(step)}`,
      };
      if (record.layer) {
        const dir = layerDir(o.paths, record.layer.diffId);
        // Layer dirs are named by content: if another ib process made the same one meanwhile
        // (same recipe built twice at once), theirs is ours.
        if (!existsSync(dir)) {
          await rename(upper, dir).catch((e: NodeJS.ErrnoException) => {
            if (!((e.code === 'ENOTEMPTY' || e.code === 'EEXIST') && existsSync(dir))) throw e;
          });
        }
        stack.push(record.layer!);
      }
      await writeStep(o.paths, record);
      built.push({ step, record });
      emit({ event: 'step-finished', step: step.name, key: step.key, seconds: (performance.now() - t0) / 1000, layer: record.layer?.digest, bytes: record.layer?.size });
    } finally {
      await rm(work, { recursive: true, force: true }).catch(() => undefined);
    }
  }
  if (built.length === 0) throw new IbError('the plan has no steps');
  return built;
}
