/**
 * Recipe → Plan, a pure function (osbuild's lesson: the plan is the whole truth). Each step's key
 * is sha256(parent key ‖ canonical JSON of the step ‖ digests of its inputs); steps that touch
 * packages also hash each mirror's InRelease, so a mirror update invalidates exactly those.
 */
import { canonicalJson, sha256 } from '../oci/digest.js';
import type { LoadedLayer, LoadedRecipe } from './load.js';
import type { LayerBody } from './schema.js';
import { redactUri, splitUriAuth } from './uri-auth.js';

/** Hash of each mirror suite's InRelease, keyed by mirrorKey (the resolved mirror state). */
export type MirrorState = Record<string, string>;

export interface MirrorSuite {
  uri: string;
  suite: string;
}

export interface BootstrapSpec {
  distro: 'debian';
  suite: string;
  mirror: string;
  variant: string;
  components: string[];
  architecture: string;
  extraSuites: string[];
  /** Packages of the fragment that carried the bootstrap, installed by mmdebstrap itself. */
  include: string[];
}

interface StepBase {
  /** Human name: "bootstrap", a fragment path, the recipe file name, "initramfs". */
  name: string;
  key: string;
  /** What went into the key, for `ib plan`. */
  inputs: Record<string, string>;
}

export type Step =
  | (StepBase & { kind: 'bootstrap'; bootstrap: BootstrapSpec; body: LayerBody; baseDir: string })
  | (StepBase & { kind: 'layer'; body: LayerBody; baseDir: string })
  | (StepBase & { kind: 'initramfs' });

export interface Plan {
  name: string;
  architecture: string;
  sourceDateEpoch: number;
  base: { bootstrap: BootstrapSpec } | { from: string };
  steps: Step[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';

/** `URI SUITE`, the URI without credentials: they change neither content nor keys. */
export function mirrorKey(m: MirrorSuite): string {
  return `${splitUriAuth(m.uri).uri} ${m.suite}`;
}

/** A body as keyed and shown: repository URIs without their credentials. */
export function redactBody<B extends Pick<LayerBody, 'repositories'>>(b: B): B {
  if (!b.repositories?.some((r) => splitUriAuth(r.uri).auth)) return b;
  return { ...b, repositories: b.repositories.map((r) => ({ ...r, uri: redactUri(r.uri) })) };
}

/** Which mirror suites a recipe's package steps read: the base suites plus every repository. */
export function mirrorSuites(loaded: LoadedRecipe, defaultMirror = DEFAULT_MIRROR): MirrorSuite[] {
  const out: MirrorSuite[] = [];
  const b = loaded.bootstrap;
  if (b) {
    const uri = b.mirror ?? defaultMirror;
    for (const suite of [b.suite, ...b.extraSuites]) out.push({ uri, suite });
  }
  for (const l of loaded.layers) for (const r of l.body.repositories) for (const suite of r.suites) out.push({ uri: r.uri, suite });
  const seen = new Set<string>();
  return out.filter((m) => {
    const k = `${m.uri} ${m.suite}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function touchesPackages(b: LayerBody): boolean {
  return b.repositories.length > 0 || (b.packages?.install.length ?? 0) > 0 || (b.packages?.remove.length ?? 0) > 0;
}

function stepKey(parent: string, step: unknown, inputs: Record<string, string>): string {
  return sha256(canonicalJson({ parent, step, inputs }));
}

export interface PlanOptions {
  mirrorState: MirrorState;
  sourceDateEpoch: number;
  defaultMirror?: string;
  /** Digest of the base image when the recipe derives `from:` one (resolved by the caller). */
  baseDigest?: string;
}

export function plan(loaded: LoadedRecipe, opts: PlanOptions): Plan {
  const { recipe } = loaded;
  const defaultMirror = opts.defaultMirror ?? DEFAULT_MIRROR;
  const steps: Step[] = [];
  const mirrorInputs = (upTo: MirrorSuite[]): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const m of upTo) out[`InRelease ${mirrorKey(m)}`] = opts.mirrorState[mirrorKey(m)] ?? 'unresolved';
    return out;
  };
  const suitesSoFar: MirrorSuite[] = [];
  let parent = sha256(canonicalJson({ sourceDateEpoch: opts.sourceDateEpoch, architecture: loaded.bootstrap?.architecture ?? 'amd64' }));
  let base: Plan['base'];
  let layers: LoadedLayer[] = loaded.layers;
  let anyPackages = false;

  if (loaded.bootstrap) {
    const b = loaded.bootstrap;
    const mirror = b.mirror ?? defaultMirror;
    for (const suite of [b.suite, ...b.extraSuites]) suitesSoFar.push({ uri: mirror, suite });
    // The fragment that carries the bootstrap folds its packages into mmdebstrap's --include:
    // one dpkg run instead of two, which is most of a bootstrap's time.
    const carrierIdx = layers.findIndex((l) => l.carriesBootstrap);
    const carrier = carrierIdx >= 0 ? layers[carrierIdx] : undefined;
    const emptyBody: LayerBody = { repositories: [], files: [], groups: [], users: [], run: [] };
    const body = carrier?.body ?? emptyBody;
    const spec: BootstrapSpec = {
      distro: b.distro, suite: b.suite, mirror, variant: b.variant, components: b.components,
      architecture: b.architecture, extraSuites: b.extraSuites,
      include: [...(body.packages?.install ?? [])].sort(),
    };
    base = { bootstrap: spec };
    const inputs = { ...mirrorInputs(suitesSoFar), ...(carrier?.inputs ?? {}) };
    const stepDef = { kind: 'bootstrap', bootstrap: spec, body: { ...body, packages: { install: [], remove: body.packages?.remove ?? [] } } };
    const key = stepKey(parent, { ...stepDef, body: redactBody(stepDef.body) }, inputs);
    steps.push({ kind: 'bootstrap', name: carrier ? `bootstrap (${carrier.name})` : 'bootstrap', key, inputs, bootstrap: spec, body: stepDef.body as LayerBody, baseDir: carrier ? carrier.file.replace(/\/[^/]*$/, '') : '' });
    parent = key;
    anyPackages = true;
    if (carrier) layers = layers.filter((_, i) => i !== carrierIdx);
  } else {
    base = { from: recipe.from! };
    parent = stepKey(parent, { kind: 'from', ref: recipe.from, digest: opts.baseDigest ?? 'unresolved' }, {});
  }

  for (const l of layers) {
    for (const r of l.body.repositories) for (const suite of r.suites) suitesSoFar.push({ uri: r.uri, suite });
    const pk = touchesPackages(l.body);
    anyPackages ||= pk;
    const inputs = { ...(pk ? mirrorInputs(suitesSoFar) : {}), ...l.inputs };
    const def = { kind: 'layer', body: redactBody(stripDescription(l.body)) };
    const key = stepKey(parent, def, inputs);
    steps.push({ kind: 'layer', name: l.name, key, inputs, body: l.body, baseDir: l.file.replace(/\/[^/]*$/, '') });
    parent = key;
  }

  // update-initramfs/dracut are suppressed in package steps and run once here, so the layers
  // don't each carry a 35 MB initrd.
  if (anyPackages) {
    const key = stepKey(parent, { kind: 'initramfs' }, {});
    steps.push({ kind: 'initramfs', name: 'initramfs', key, inputs: {} });
  }

  return {
    name: recipe.name,
    architecture: loaded.bootstrap?.architecture ?? 'amd64',
    sourceDateEpoch: opts.sourceDateEpoch,
    base,
    steps,
    labels: recipe.labels,
    annotations: recipe.annotations,
  };
}

function stripDescription(b: LayerBody): LayerBody {
  const { description: _d, ...rest } = b;
  return rest as LayerBody;
}

/** The plan as printed by `ib plan`: no host paths, no credentials, keys with their inputs. */
export function planForDisplay(p: Plan): unknown {
  return {
    name: p.name,
    architecture: p.architecture,
    sourceDateEpoch: p.sourceDateEpoch,
    base: p.base,
    steps: p.steps.map((s) => {
      const { baseDir: _b, ...rest } = s as Step & { baseDir?: string };
      return 'body' in rest ? { ...rest, body: redactBody(rest.body) } : rest;
    }),
    labels: p.labels,
    annotations: p.annotations,
  };
}
