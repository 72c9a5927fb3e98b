import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { GlobalOptions } from './main.js';
import { tlsVerifyFlag } from './tls.js';

interface RepoFlags { repo?: string; branch?: string; mode?: string; tlsVerify?: string; authfile?: string }

function mode(v: string | undefined): 'archive' | 'bare-user' | undefined {
  if (v === undefined || v === 'archive' || v === 'bare-user') return v;
  throw new UsageError(`--mode: "${v}" is not valid; use archive (for serving) or bare-user (for local deploys)`);
}

async function defaultRepo(g: GlobalOptions): Promise<string> {
  const { cachePaths } = await import('../build/cache.js');
  return resolve(cachePaths(undefined, g.store).root, 'ostree', 'repo');
}

export function registerOstreeCommands(program: Command): void {
  const ostree = program.command('ostree').description('ostree commits of images, ostree-native (bootc) containers, and the way back');

  ostree
    .command('commit <ref>')
    .description('prepare an image\'s tree the way ostree expects and commit it (reproducibly: same image, same checksum)')
    .option('--repo <dir>', 'ostree repository (created if missing; default <cache-dir>/ostree/repo)')
    .option('--branch <ref>', 'branch to commit to (default NAME/x86_64)')
    .option('--mode <mode>', 'repository mode when creating it: bare-user (default) or archive')
    .option('--subject <text>', 'commit subject')
    .option('--version <v>', 'version metadata (also the container\'s org.opencontainers.image.version)')
    .option('--tls-verify <bool>', 'require https when pulling')
    .option('--authfile <file>', 'credentials file')
    .action(async (ref: string, o: RepoFlags & { subject?: string; version?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const { commitImage } = await import('../deploy/ostree-outputs.js');
      const c = await commitImage(ref, { repo: o.repo ? resolve(o.repo) : undefined, branch: o.branch, mode: mode(o.mode), subject: o.subject, version: o.version }, {
        store: g.store, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile,
      });
      process.stdout.write(`${c.commit}\n`);
    });

  ostree
    .command('container <ref>')
    .description('commit an image (or use --from-repo) and encapsulate it as an ostree-native container in the local store')
    .option('-t, --tag <name>', 'store tag for the container (default NAME:bootable)')
    .option('--push <ref>', 'push the container to a registry')
    .option('--repo <dir>', 'ostree repository')
    .option('--branch <ref>', 'branch')
    .option('--from-repo', 'REF is an ostree ref or commit in --repo, not an image')
    .option('--max-layers <n>', 'at most this many layers (default 64)', (v) => Number(v))
    .option('--previous <ref>', 'the last published image: packages keep their layers, so updates stay small')
    .option('--version <v>', 'version metadata')
    .option('--tls-verify <bool>', 'require https when pulling/pushing')
    .option('--authfile <file>', 'credentials file')
    .action(async (ref: string, o: RepoFlags & { tag?: string; push?: string; fromRepo?: boolean; maxLayers?: number; version?: string; previous?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const { commitImage } = await import('../deploy/ostree-outputs.js');
      const { encapsulate } = await import('../ostree/index.js');
      const { cachePaths } = await import('../build/cache.js');
      const { Store } = await import('../oci/index.js');
      const { emit } = await import('../log.js');
      const tlsVerify = tlsVerifyFlag(o.tlsVerify);
      let repo = o.repo ? resolve(o.repo) : await defaultRepo(g);
      let commitRef = ref;
      if (!o.fromRepo) {
        const c = await commitImage(ref, { repo, branch: o.branch, version: o.version }, { store: g.store, tlsVerify, authfile: o.authfile });
        repo = c.repo;
        commitRef = c.branch;
      }
      const store = await Store.open(cachePaths(undefined, g.store).store);
      const tag = o.tag ?? `${ref.replace(/^docker:\/\//, '').replace(/:[^/:]*$/, '').replace(/@.*$/, '')}:bootable`;
      let previous;
      if (o.previous) {
        const { resolveBase } = await import('../build/base.js');
        previous = (await resolveBase(store, o.previous, { tlsVerify, authfile: o.authfile })).manifest;
      }
      const img = await encapsulate({ repo, ref: commitRef, store, tag, maxLayers: o.maxLayers, previous });
      emit({ event: 'image', ref: tag, digest: img.manifest.digest });
      if (o.push) {
        const { pushToRegistry } = await import('../deploy/push.js');
        await pushToRegistry(store, tag, o.push, { tlsVerify, authfile: o.authfile });
      }
      process.stdout.write(`${img.manifest.digest}\n`);
    });

  ostree
    .command('import <ref>')
    .description('the way back: an ostree-native container (local store or registry) → a commit in an ostree repo')
    .option('--repo <dir>', 'ostree repository (created if missing)')
    .option('--branch <ref>', 'ref to point at the imported commit')
    .option('--mode <mode>', 'repository mode when creating it: bare-user (default) or archive')
    .option('--tls-verify <bool>', 'require https when pulling')
    .option('--authfile <file>', 'credentials file')
    .action(async (ref: string, o: RepoFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const { importContainer } = await import('../ostree/index.js');
      const { cachePaths } = await import('../build/cache.js');
      const { Store, readImage } = await import('../oci/index.js');
      const { resolveBase } = await import('../build/base.js');
      const paths = cachePaths(undefined, g.store);
      const store = await Store.open(paths.store);
      const base = await resolveBase(store, ref, { tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile });
      const image = await readImage(store, base.manifestDigest);
      const r = await importContainer({ store, image, repo: o.repo ? resolve(o.repo) : await defaultRepo(g), branch: o.branch, mode: mode(o.mode), scratch: paths.tmp });
      process.stdout.write(`${r.commit}\n`);
    });

  for (const [name, desc] of [['log', 'show the history of a branch'], ['ls', 'list a path of a commit'], ['refs', 'list the refs of a repository'], ['show', 'show a commit']] as const) {
    ostree
      .command(`${name} [args...]`)
      .description(`${desc} (passes through to the ostree CLI with --repo)`)
      .option('--repo <dir>', 'ostree repository')
      .allowUnknownOption()
      .action(async (args: string[] = [], o: { repo?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals() as GlobalOptions;
        const { run } = await import('../exec/run.js');
        const r = await run('ostree', [name, `--repo=${o.repo ? resolve(o.repo) : await defaultRepo(g)}`, ...args]);
        process.stdout.write(r.stdout);
      });
  }
}
