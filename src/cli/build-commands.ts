import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { GlobalOptions } from './main.js';

function parseSde(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--source-date-epoch: "${v}" is not a non-negative integer`);
  return n;
}

export function registerBuildCommands(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of recipes (for editors)')
    .action(async () => {
      const { recipeJsonSchema } = await import('../recipe/schema.js');
      process.stdout.write(JSON.stringify(recipeJsonSchema(), null, 2) + '\n');
    });

  program
    .command('plan <recipe>')
    .description('print the resolved plan as JSON: base, steps, each step\'s content key and its inputs')
    .option('--source-date-epoch <n>', 'clamp timestamps to this time (default: recipe, $SOURCE_DATE_EPOCH, or the mirror\'s date)', parseSde)
    .action(async (file: string, o: { sourceDateEpoch?: number }) => {
      const { loadRecipe } = await import('../recipe/load.js');
      const { planForDisplay } = await import('../recipe/plan.js');
      const { resolvePlan } = await import('../build/index.js');
      const loaded = await loadRecipe(file);
      const plan = await resolvePlan(loaded, { sourceDateEpoch: o.sourceDateEpoch });
      process.stdout.write(JSON.stringify(planForDisplay(plan), null, 2) + '\n');
    });

  program
    .command('build <recipe>')
    .description('build a recipe into the local store (and push it with --push)')
    .option('-t, --tag <name>', 'tag in the local store (default: the recipe name, :latest)')
    .option('--push <ref>', 'push the result to a registry, e.g. localhost:5000/acme/base:1')
    .option('--digestfile <file>', 'write the manifest digest to this file')
    .option('--compression <algo>', 'layer compression: gzip (default) or zstd', 'gzip')
    .option('--source-date-epoch <n>', 'clamp timestamps to this time', parseSde)
    .option('--tls-verify <bool>', 'require https and verify certificates when pushing (default true except for localhost)')
    .option('--authfile <file>', 'credentials file for the push (podman/docker format)')
    .option('--cache-from <repo>', 'read cached step layers from this registry repository, e.g. localhost:5000/acme/cache')
    .option('--cache-to <repo>', 'write the step → layer map and layers to this registry repository')
    .option('--executor <name>', 'where steps run: namespace (default, no daemon) or docker (a local Docker/Podman engine, $DOCKER_HOST)', 'namespace')
    .option('--no-outputs', 'skip the recipe\'s outputs (disk, iso, ostree)')
    .action(async (file: string, o: { outputs: boolean; tag?: string; push?: string; digestfile?: string; compression: string; sourceDateEpoch?: number; tlsVerify?: string; authfile?: string; cacheFrom?: string; cacheTo?: string; executor: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      if (o.compression !== 'gzip' && o.compression !== 'zstd') throw new UsageError(`--compression: "${o.compression}" is not valid; use gzip or zstd`);
      const { buildRecipe } = await import('../build/index.js');
      const { pushToRegistry } = await import('../deploy/push.js');
      const t0 = performance.now();
      const { tlsVerifyFlag } = await import('./tls.js');
      const res = await buildRecipe(file, {
        tag: o.tag, store: g.store, compression: o.compression, digestfile: o.digestfile, sourceDateEpoch: o.sourceDateEpoch,
        cacheFrom: o.cacheFrom, cacheTo: o.cacheTo, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile, executor: o.executor,
      });
      if (o.push) {
        await pushToRegistry(res.store, res.tag, o.push, { tlsVerify: (await import('./tls.js')).tlsVerifyFlag(o.tlsVerify), authfile: o.authfile, digestfile: o.digestfile });
      }
      if (o.outputs && res.outputs) {
        const { makeOutputs } = await import('../deploy/outputs.js');
        await makeOutputs(res.tag, res.plan.name, res.outputs, { store: g.store, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile });
      }
      if (!g.quiet && !g.json) process.stderr.write(`built ${res.tag} in ${((performance.now() - t0) / 1000).toFixed(1)}s (${res.layers} layers)\n`);
      process.stdout.write(res.manifestDigest + '\n');
    });
}
