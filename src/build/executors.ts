/**
 * Where a build step that misses the cache runs. Both executors leave the same thing — a clean
 * layer dir — so the same step gives the same layer digest whichever ran it, and a step cached
 * by one is a cache hit for the other.
 *
 * - `namespace` (default, daemonless): a mount+pid namespace over an overlay of the layers below.
 * - `docker`: a container of the layers below on a local Docker/Podman engine, network none;
 *   for hosts where ib cannot make namespaces or mounts itself.
 */
import { UsageError } from '../errors.js';
import type { EngineOptions } from '../engine/index.js';
import type { Plan, Step } from '../recipe/plan.js';
import { dockerExecutor } from './docker-executor.js';
import { runStep, type ExecuteOptions } from './execute.js';

export interface StepContext {
  o: ExecuteOptions;
  plan: Plan;
  step: Step;
  /** Layer dirs of the layers below, topmost first (overlay lowerdir order). */
  lowers: string[];
  /** The same layers as store blobs, bottom first. */
  stack: { digest: string; diffId: string; size: number; mediaType: string }[];
  /** An empty private dir on the cache's filesystem; the returned layer dir is inside it. */
  work: string;
}

export interface Executor {
  name: ExecutorName;
  /** Run the step; return the path of its captured layer dir (overlay upper-dir form). */
  runStep(ctx: StepContext): Promise<string>;
}

export type ExecutorName = 'namespace' | 'docker';

export interface ExecutorOptions {
  engine?: EngineOptions;
}

export const EXECUTORS: Record<ExecutorName, (opts: ExecutorOptions) => Executor> = {
  namespace: () => ({ name: 'namespace', runStep: (c) => runStep(c.o, c.plan, c.step, c.lowers, c.work) }),
  docker: (opts) => dockerExecutor(opts.engine),
};

export function executorByName(name: string, opts: ExecutorOptions = {}): Executor {
  const make = (EXECUTORS as Record<string, ((o: ExecutorOptions) => Executor) | undefined>)[name];
  if (!make) throw new UsageError(`--executor: "${name}" is not valid; use ${Object.keys(EXECUTORS).join(' or ')}`);
  return make(opts);
}
