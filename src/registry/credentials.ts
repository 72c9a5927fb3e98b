/**
 * Registry credentials, read from where podman and docker keep them so `podman login` /
 * `docker login` work for ib too: `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. Entries may be keyed by host, by
 * `host/namespace` (podman) or by URL (`https://index.docker.io/v1/`, docker); a credential helper
 * (`credHelpers`, `credsStore`) is asked through `docker-credential-NAME get`.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { IbError, UsageError } from '../errors.js';
import { run } from '../exec/run.js';
import { DOCKER_HUB } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

/** `--creds USER[:PASS]` (podman's form); a password may contain colons. */
export function parseCreds(s: string): Credentials {
  const i = s.indexOf(':');
  const username = i < 0 ? s : s.slice(0, i);
  if (!username) throw new UsageError('--creds: the user name is empty', { hint: 'write --creds USER:PASSWORD' });
  if (i < 0) throw new UsageError('--creds: no password given', { hint: 'write --creds USER:PASSWORD' });
  return { username, password: s.slice(i + 1) };
}

export const AuthEntry = z.object({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
}).passthrough();

export const AuthFile = z.object({
  auths: z.record(z.string(), AuthEntry).optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
  credsStore: z.string().optional(),
}).passthrough();
export type AuthFile = z.infer<typeof AuthFile>;

/** The files searched, in order; an explicit `--authfile` replaces the list. */
export function authFilePaths(env: NodeJS.ProcessEnv = process.env, authfile?: string): string[] {
  if (authfile) return [authfile];
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  out.push(join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json'));
  return out;
}

export async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new IbError(`reading credentials ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (text.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new IbError(`credentials file ${path} is not valid JSON: ${(e as Error).message}`, {
      hint: `fix or remove ${path}, then log in again with \`ib login\``,
    });
  }
  const r = AuthFile.safeParse(json);
  if (!r.success) {
    throw new IbError(`credentials file ${path} has an unexpected shape: ${r.error.issues[0]?.message ?? ''}`, {
      hint: `fix or remove ${path}, then log in again with \`ib login\``,
    });
  }
  return r.data;
}

/** The key as podman/docker may have written it: no scheme, no `/v1/` API suffix. */
export function normalizeAuthKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '');
  k = k.replace(/\/v[12]\/?$/, '').replace(/\/$/, '');
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') k = DOCKER_HUB;
  return k;
}

function decodeEntry(path: string, key: string, e: z.infer<typeof AuthEntry>): Credentials | undefined {
  if (e.auth) {
    const plain = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) throw new IbError(`credentials for "${key}" in ${path} are malformed (auth is not base64 of user:password)`, { hint: `log in again with \`ib login ${key}\`` });
    return { username: plain.slice(0, i), password: plain.slice(i + 1) };
  }
  if (e.username !== undefined && e.password !== undefined) return { username: e.username, password: e.password };
  // An identity token is an OAuth2 refresh token; the token flow sends it as the password with
  // the conventional `<token>` user, which distribution-style token servers accept.
  if (e.identitytoken) return { username: '<token>', password: e.identitytoken };
  return undefined;
}

/** Keys to try for a repository, most specific first (podman allows `host/namespace` entries). */
export function candidateKeys(registry: string, repository?: string): string[] {
  const keys: string[] = [];
  if (repository) {
    const parts = repository.split('/');
    for (let i = parts.length; i >= 1; i--) keys.push(`${registry}/${parts.slice(0, i).join('/')}`);
  }
  keys.push(registry);
  return keys;
}

async function fromHelper(helper: string, registry: string): Promise<Credentials | undefined> {
  const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  const r = await run(`docker-credential-${helper}`, ['get'], { input: server, allowFailure: true });
  if (r.exitCode !== 0) {
    // Helpers say "credentials not found in native keychain" on a miss: that is not an error.
    if (/not found/i.test(r.stdout + r.stderr)) return undefined;
    throw new IbError(`credential helper docker-credential-${helper} failed for ${registry}: ${(r.stderr || r.stdout).trim()}`);
  }
  const j = z.object({ Username: z.string(), Secret: z.string() }).parse(JSON.parse(r.stdout));
  return { username: j.Username, password: j.Secret };
}

/** Find credentials for a registry (and repository) in the auth files, or undefined (anonymous). */
export async function findCredentials(
  registry: string,
  repository?: string,
  opts: { authfile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Credentials | undefined> {
  const wanted = candidateKeys(registry, repository);
  for (const path of authFilePaths(opts.env ?? process.env, opts.authfile)) {
    const file = await readAuthFile(path);
    if (!file) continue;
    const helper = file.credHelpers?.[registry] ??
      Object.entries(file.credHelpers ?? {}).find(([k]) => normalizeAuthKey(k) === registry)?.[1];
    if (helper) return fromHelper(helper, registry);
    const entries = Object.entries(file.auths ?? {}).map(([k, v]) => [normalizeAuthKey(k), k, v] as const);
    for (const key of wanted) {
      const hit = entries.find(([nk]) => nk === key);
      if (hit) {
        const c = decodeEntry(path, hit[1], hit[2]);
        if (c) return c;
      }
    }
    if (file.credsStore) {
      const c = await fromHelper(file.credsStore, registry);
      if (c) return c;
    }
  }
  return undefined;
}
