import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { GlobalOptions } from './main.js';

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
const many = (v: string, prev: string[] = []) => [...prev, v];

function fileSpec(arg: string): { path: string; source: string } {
  const i = arg.lastIndexOf(':');
  if (i <= 0 || !arg.slice(i + 1).startsWith('/')) {
    throw new UsageError(`--file "${arg}": expected LOCAL:/ABSOLUTE/PATH, e.g. ./motd:/etc/motd`);
  }
  return { source: resolve(arg.slice(0, i)), path: arg.slice(i + 1) };
}

export function registerDerive(program: Command): void {
  const derive = program.command('derive').description('derive an image from another: a package delta as one new layer');
  derive
    .command('from <ref>')
    .description('pull (or find) REF, apply --install/--remove/--file/--run, store the result as REF\'s layers plus one')
    .option('--install <pkgs>', 'packages to install (comma-separated, repeatable)', list)
    .option('--remove <pkgs>', 'packages to remove (comma-separated, repeatable)', list)
    .option('--file <src:dst>', 'copy a local file into the image (repeatable)', many)
    .option('--run <cmd>', 'a shell snippet to run in the image (repeatable)', many)
    .option('-t, --tag <name>', 'tag in the local store (default: derived:latest)')
    .option('--push <ref>', 'push the result to a registry')
    .option('--digestfile <file>', 'write the manifest digest to this file')
    .option('--compression <algo>', 'gzip (default) or zstd', 'gzip')
    .option('--tls-verify <bool>', 'require https when pulling/pushing (default true except for localhost)')
    .option('--authfile <file>', 'credentials file')
    .option('--cache-from <repo>', 'read cached step layers from this registry repository')
    .option('--cache-to <repo>', 'write the step → layer map and layers to this registry repository')
    .option('--executor <name>', 'where the step runs: namespace (default, no daemon) or docker (a local Docker/Podman engine, $DOCKER_HOST)', 'namespace')
    .action(async (ref: string, o: {
      install?: string[]; remove?: string[]; file?: string[]; run?: string[]; tag?: string; push?: string; digestfile?: string;
      compression: string; tlsVerify?: string; authfile?: string; cacheFrom?: string; cacheTo?: string; executor: string;
    }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      if (o.compression !== 'gzip' && o.compression !== 'zstd') throw new UsageError(`--compression: "${o.compression}" is not valid; use gzip or zstd`);
      const { buildLoaded } = await import('../build/index.js');
      const { inlineRecipe } = await import('../recipe/load.js');
      const { pushToRegistry } = await import('../deploy/push.js');
      const name = (o.tag ?? 'derived').replace(/:[^/:]*$/, '');
      const files = (o.file ?? []).map(fileSpec);
      const loaded = await inlineRecipe({
        name,
        from: ref,
        ...(o.install || o.remove ? { packages: { install: o.install ?? [], remove: o.remove ?? [] } } : {}),
        files,
        run: o.run ?? [],
      }, process.cwd(), 'derive');
      const tlsVerify = o.tlsVerify === undefined ? undefined : o.tlsVerify !== 'false';
      const res = await buildLoaded(loaded, { tag: o.tag ?? 'derived:latest', store: g.store, compression: o.compression, digestfile: o.digestfile, tlsVerify, authfile: o.authfile, cacheFrom: o.cacheFrom, cacheTo: o.cacheTo, executor: o.executor });
      if (o.push) await pushToRegistry(res.store, res.tag, o.push, { tlsVerify: (await import('./tls.js')).tlsVerifyFlag(o.tlsVerify), authfile: o.authfile, digestfile: o.digestfile, from: res.base?.ref });
      process.stdout.write(res.manifestDigest + '\n');
    });
}
