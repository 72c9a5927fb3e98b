/** The flags every command that talks to a registry takes, with podman/skopeo names. */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { tlsVerifyFlag } from './tls.js';

export interface RegistryFlags {
  tlsVerify?: string;
  authfile?: string;
  creds?: string;
  jobs?: number;
  platform?: string;
}

export function addRegistryFlags(cmd: Command): Command {
  return cmd
    .option('--tls-verify <bool>', 'require https and verify certificates (default true except for localhost)')
    .option('--authfile <file>', 'credentials file (podman/docker format)')
    .option('--creds <user:pass>', 'credentials for the registry')
    .option('--jobs <n>', 'blobs transferred in parallel', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`--jobs: "${v}" is not a positive integer`);
      return n;
    });
}

/** Connection options for src/registry from the flags. */
export async function registryOptions(f: RegistryFlags): Promise<Record<string, unknown>> {
  const { parseCreds, parsePlatform } = await import('../registry/index.js');
  return {
    tlsVerify: tlsVerifyFlag(f.tlsVerify),
    authfile: f.authfile,
    ...(f.creds ? { creds: parseCreds(f.creds) } : {}),
    ...(f.jobs ? { jobs: f.jobs } : {}),
    ...(f.platform ? { platform: parsePlatform(f.platform) } : {}),
  };
}
