/**
 * `ib build`: load → resolve (mirror state, source date) → plan → execute → image in the store,
 * optionally tagged and pushed.
 */
import { writeFile } from 'node:fs/promises';
import { IbError } from '../errors.js';
import { emit, phase } from '../log.js';
import { Store } from '../oci/index.js';
import { hostDebianMirror, resolveMirrorState } from '../packages/index.js';
import { loadRecipe, type LoadedRecipe } from '../recipe/load.js';
import { mirrorSuites, plan as makePlan, type Plan } from '../recipe/plan.js';
import { cachePaths, type CachePaths } from './cache.js';
import { executePlan } from './execute.js';
import { assembleImage } from './image.js';

export { cachePaths, defaultCacheDir, type CachePaths } from './cache.js';

export interface ResolveOptions {
  sourceDateEpoch?: number;
}

/** Resolve what the plan depends on outside the recipe: mirror state and the source date. */
export async function resolvePlan(loaded: LoadedRecipe, o: ResolveOptions = {}): Promise<Plan> {
  if (loaded.recipe.from) {
    throw new IbError(`${loaded.file}: "from:" is not supported yet`, { hint: 'derived recipes land with the derive issue; use bootstrap: for now' });
  }
  const defaultMirror = hostDebianMirror();
  const suites = mirrorSuites(loaded, defaultMirror);
  const { state, newestDate } = await resolveMirrorState(suites);
  const envSde = process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : undefined;
  const sde = o.sourceDateEpoch ?? loaded.recipe.sourceDateEpoch ?? (Number.isFinite(envSde) ? envSde : undefined) ?? newestDate ?? 0;
  return makePlan(loaded, { mirrorState: state, sourceDateEpoch: sde, defaultMirror });
}

export interface BuildOptions {
  tag?: string;
  cacheDir?: string;
  store?: string;
  compression?: 'gzip' | 'zstd';
  digestfile?: string;
  sourceDateEpoch?: number;
}

export interface BuildResult {
  plan: Plan;
  tag: string;
  manifestDigest: string;
  store: Store;
  paths: CachePaths;
  layers: number;
}

export function defaultTag(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

export async function buildRecipe(file: string, o: BuildOptions = {}): Promise<BuildResult> {
  const loaded = await loadRecipe(file);
  const plan = await phase('resolve', () => resolvePlan(loaded, { sourceDateEpoch: o.sourceDateEpoch }));
  const paths = cachePaths(o.cacheDir, o.store);
  const store = await Store.open(paths.store);
  const built = await executePlan(plan, { paths, store, compression: o.compression });
  const created = new Date(plan.sourceDateEpoch * 1000).toISOString();
  const layers = built.filter((b) => b.record.layer).map((b) => b.record.layer!);
  const { manifest } = await assembleImage(store, {
    architecture: plan.architecture,
    sourceDateEpoch: plan.sourceDateEpoch,
    layers,
    history: built.map((b) => ({ created, created_by: b.record.createdBy, comment: b.step.key, ...(b.record.empty ? { empty_layer: true } : {}) })),
    labels: plan.labels,
    annotations: { 'org.opencontainers.image.title': plan.name, ...plan.annotations },
  });
  const tag = defaultTag(o.tag ?? plan.name);
  await store.tag(tag, manifest);
  emit({ event: 'image', ref: tag, digest: manifest.digest });
  if (o.digestfile) await writeFile(o.digestfile, manifest.digest);
  return { plan, tag, manifestDigest: manifest.digest, store, paths, layers: layers.length };
}
