import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { IbError, UsageError } from '../errors.js';
import type { GlobalOptions } from './main.js';
import { addRegistryFlags, registryOptions, type RegistryFlags } from './registry-flags.js';

async function storeOf(cmd: Command) {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  const { cachePaths } = await import('../build/cache.js');
  const { Store } = await import('../oci/index.js');
  return Store.open(cachePaths(undefined, g.store).store);
}

export function registerRegistryCommands(program: Command): void {
  addRegistryFlags(
    program
      .command('pull <ref>')
      .description('pull an image from a registry into the local store (digest-verified)')
      .option('--platform <os/arch>', 'platform to pick from an image index (default: this host)'),
  ).action(async (ref: string, o: RegistryFlags, cmd: Command) => {
    const { pullImage } = await import('../registry/index.js');
    const store = await storeOf(cmd);
    const r = await pullImage(store, ref, await registryOptions(o));
    process.stderr.write(`pulled ${r.name ?? ref}\n`);
    process.stdout.write(r.descriptor.digest + '\n');
  });

  addRegistryFlags(
    program
      .command('copy <src> <dest>')
      .description('copy an image between transports: docker://, oci:DIR[:tag], docker-daemon:NAME:TAG, the local store')
      .option('--platform <os/arch>', 'platform to pick from an image index')
      .option('--all', 'copy every platform of an image index')
      .option('--digestfile <file>', 'write the manifest digest to this file'),
  ).action(async (src: string, dest: string, o: RegistryFlags & { all?: boolean; digestfile?: string }, cmd: Command) => {
    const { copyImage } = await import('../registry/index.js');
    const store = await storeOf(cmd);
    const r = await copyImage(src, dest, { ...(await registryOptions(o)), all: o.all, store });
    if (o.digestfile) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(o.digestfile, r.digest + '\n');
    }
    process.stdout.write(r.digest + '\n');
  });

  program
    .command('login <registry>')
    .description('log in to a registry; credentials are stored where podman and docker keep them')
    .option('-u, --username <name>', 'user name')
    .option('-p, --password <pw>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--authfile <file>', 'credentials file to write')
    .option('--tls-verify <bool>', 'require https (default true except for localhost)')
    .action(async (registry: string, o: { username?: string; password?: string; passwordStdin?: boolean; authfile?: string; tlsVerify?: string }) => {
      const { login } = await import('../registry/index.js');
      const { tlsVerifyFlag } = await import('./tls.js');
      if (!o.username) throw new UsageError('ib login: --username is required');
      if (o.password && o.passwordStdin) throw new UsageError('give --password or --password-stdin, not both');
      const password = o.passwordStdin ? readFileSync(0, 'utf8').replace(/\r?\n$/, '') : o.password;
      if (!password) throw new UsageError('ib login: no password', { hint: 'echo "$PASS" | ib login REGISTRY -u USER --password-stdin' });
      const file = await login(registry, { username: o.username, password }, { authfile: o.authfile, tlsVerify: tlsVerifyFlag(o.tlsVerify) });
      process.stderr.write(`Login Succeeded (credentials in ${file})\n`);
    });

  program
    .command('logout [registry]')
    .description('remove stored credentials for a registry (--all: for every registry)')
    .option('--all', 'every registry')
    .option('--authfile <file>', 'credentials file')
    .action(async (registry: string | undefined, o: { all?: boolean; authfile?: string }) => {
      const { logout } = await import('../registry/index.js');
      if (!registry && !o.all) throw new UsageError('ib logout: name a registry or pass --all');
      const files = await logout(registry, { authfile: o.authfile, all: o.all });
      if (files.length === 0) throw new IbError(`not logged in to ${registry}`);
      process.stderr.write(`Removed login credentials for ${registry ?? 'all registries'}\n`);
    });
}
