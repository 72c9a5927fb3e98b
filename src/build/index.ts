/**
 * `ib build` and `ib derive`: load → resolve (base image, mirror state, source date) → plan →
 * execute → image in the store, optionally tagged and pushed.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { emit, phase } from '../log.js';
import { extractLayer, Store } from '../oci/index.js';
import { hostDebianMirror, parseDpkgStatus, resolveMirrorState } from '../packages/index.js';
import { loadRecipe, type LoadedRecipe } from '../recipe/load.js';
import { mirrorSuites, plan as makePlan, type MirrorSuite, type Plan } from '../recipe/plan.js';
import { aptSourcesOf, readFromLayers, resolveBase, type BaseImage } from './base.js';
import { cachePaths, layerDir, sweepStaleWork, type CachePaths } from './cache.js';
import { executePlan } from './execute.js';
import { executorByName } from './executors.js';
import { assembleImage } from './image.js';

export { cachePaths, defaultCacheDir, type CachePaths } from './cache.js';
export { resolveBase, type BaseImage } from './base.js';
export { EXECUTORS, executorByName, type Executor, type ExecutorName, type StepContext } from './executors.js';

export interface ResolveOptions {
  sourceDateEpoch?: number;
  cacheDir?: string;
  store?: string;
  tlsVerify?: boolean;
  authfile?: string;
}

export interface Prepared {
  plan: Plan;
  store: Store;
  paths: CachePaths;
  base?: BaseImage;
}

/** Unpacked dirs of a list of layers (extracted once, then reused by every build). */
export async function layerDirs(paths: CachePaths, store: Store, layers: BaseImage['layers']): Promise<string[]> {
  const out: string[] = [];
  for (const l of layers) {
    const dir = layerDir(paths, l.diffId);
    if (!existsSync(dir)) await extractLayer(store, l, dir);
    out.push(dir);
  }
  return out;
}

function touchesPackages(loaded: LoadedRecipe): boolean {
  return loaded.layers.some((l) => l.body.repositories.length > 0 || !!l.body.packages?.install.length || !!l.body.packages?.remove.length);
}

/** Resolve what the plan depends on outside the recipe: base image, mirror state, source date. */
export async function prepare(loaded: LoadedRecipe, o: ResolveOptions = {}): Promise<Prepared> {
  const paths = cachePaths(o.cacheDir, o.store);
  await sweepStaleWork(paths);
  // The store is created only once the recipe has proven valid: bad input leaves no trace.
  let store: Store | undefined;
  const openStore = async () => (store ??= await Store.open(paths.store));
  const defaultMirror = hostDebianMirror();
  let suites: MirrorSuite[] = mirrorSuites(loaded, defaultMirror);
  let base: BaseImage | undefined;
  if (loaded.recipe.from) {
    base = await phase(`base ${loaded.recipe.from}`, async () => resolveBase(await openStore(), loaded.recipe.from!, o));
    if (touchesPackages(loaded)) {
      // Package steps depend on the state of the mirrors the base's apt reads.
      const dirs = (await layerDirs(paths, await openStore(), base.layers)).reverse();
      suites = [...aptSourcesOf(dirs), ...suites];
    }
  }
  const { state, newestDate } = suites.length > 0 ? await resolveMirrorState(suites) : { state: {}, newestDate: undefined };
  const envSde = process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : undefined;
  const baseCreated = base?.config.created ? Math.floor(Date.parse(base.config.created) / 1000) : undefined;
  const sde = o.sourceDateEpoch ?? loaded.recipe.sourceDateEpoch ?? (Number.isFinite(envSde) ? envSde : undefined) ??
    (base ? baseCreated : newestDate) ?? newestDate ?? 0;
  const plan = makePlan(loaded, { mirrorState: state, sourceDateEpoch: sde, defaultMirror, baseDigest: base?.manifestDigest });
  return { plan, store: await openStore(), paths, base };
}

export async function resolvePlan(loaded: LoadedRecipe, o: ResolveOptions = {}): Promise<Plan> {
  return (await prepare(loaded, o)).plan;
}

export interface BuildOptions extends ResolveOptions {
  tag?: string;
  /** Registry repository to read step layers from (BuildKit-style registry cache). */
  cacheFrom?: string;
  /** Registry repository to write the step → layer map and layers to. */
  cacheTo?: string;
  compression?: 'gzip' | 'zstd';
  digestfile?: string;
  /** Where steps that miss the cache run: `namespace` (default) or `docker` (executors.ts). */
  executor?: string;
}

export interface BuildResult {
  plan: Plan;
  tag: string;
  manifestDigest: string;
  store: Store;
  paths: CachePaths;
  layers: number;
  base?: BaseImage;
  /** The recipe's `outputs:`, made by deploy after the build. */
  outputs?: LoadedRecipe['recipe']['outputs'];
}

export function defaultTag(name: string): string {
  return /:[\w][\w.-]*$/.test(name.split('/').pop() ?? name) ? name : `${name}:latest`;
}

export async function buildRecipe(file: string, o: BuildOptions = {}): Promise<BuildResult> {
  return buildLoaded(await loadRecipe(file), o);
}

export async function buildLoaded(loaded: LoadedRecipe, o: BuildOptions = {}): Promise<BuildResult> {
  const executor = o.executor ? executorByName(o.executor) : undefined;
  const { plan, store, paths, base } = await phase('resolve', () => prepare(loaded, o));
  let remoteCache: Parameters<typeof executePlan>[1]['remoteCache'];
  if (o.cacheFrom) {
    const { readRegistryCache, fetchCachedLayer } = await import('../registry/index.js');
    const ref = o.cacheFrom;
    const conn = { tlsVerify: o.tlsVerify, authfile: o.authfile };
    const steps = await phase(`reading build cache ${ref}`, () => readRegistryCache(ref, conn));
    remoteCache = { steps, fetch: (layer) => fetchCachedLayer(store, ref, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, conn) };
  }
  const built = await executePlan(plan, { paths, store, compression: o.compression, baseLayers: base?.layers, remoteCache, executor });
  if (o.cacheTo) {
    const { writeRegistryCache } = await import('../registry/index.js');
    const ref = o.cacheTo;
    await phase(`writing build cache ${ref}`, () => writeRegistryCache(store, ref, built.map((b) => b.record), { tlsVerify: o.tlsVerify, authfile: o.authfile }));
  }
  const created = new Date(plan.sourceDateEpoch * 1000).toISOString();
  const layers = [...(base?.layers ?? []), ...built.filter((b) => b.record.layer).map((b) => b.record.layer!)];
  // The installed-package list travels with the image (ib diff reads it), when the layers are at hand.
  const dirs = layers.map((l) => layerDir(paths, l.diffId)).reverse();
  const status = dirs.every((d) => existsSync(d)) ? readFromLayers(dirs, 'var/lib/dpkg/status') : undefined;
  const packages = status ? parseDpkgStatus(status).map((p) => `${p.name}=${p.version}`) : undefined;
  const { manifest } = await assembleImage(store, {
    architecture: plan.architecture,
    sourceDateEpoch: plan.sourceDateEpoch,
    layers,
    history: [
      ...(base?.config.history ?? []),
      ...built.map((b) => ({ created, created_by: b.record.createdBy, comment: b.step.key, ...(b.record.empty ? { empty_layer: true } : {}) })),
    ],
    labels: plan.labels,
    annotations: {
      'org.opencontainers.image.title': plan.name,
      ...(base ? { 'org.opencontainers.image.base.name': base.ref, 'org.opencontainers.image.base.digest': base.manifestDigest } : {}),
      ...plan.annotations,
    },
    baseConfig: base?.config,
    packages,
  });
  const tag = defaultTag(o.tag ?? plan.name);
  await store.tag(tag, manifest);
  emit({ event: 'image', ref: tag, digest: manifest.digest });
  if (o.digestfile) await writeFile(o.digestfile, manifest.digest + '\n');
  return { plan, tag, manifestDigest: manifest.digest, store, paths, layers: layers.length, base, outputs: loaded.recipe.outputs };
}
