import { UsageError } from '../errors.js';

/** podman's --tls-verify=true|false; undefined means: https, except for localhost registries. */
export function tlsVerifyFlag(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new UsageError(`--tls-verify: "${v}" is not true or false`);
}
