/**
 * `ib login` / `ib logout`: check credentials against the registry, then store them where podman
 * and docker look (so `podman pull` works after `ib login`, and the other way round). The file
 * is written atomically (temp + rename) with mode 0600, keeping every other entry and key
 * (`credHelpers`, docker's `HttpHeaders`, …) as it was.
 */
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { IbError } from '../errors.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { authFilePaths, normalizeAuthKey, readAuthFile, type AuthFile, type Credentials } from './credentials.js';
import { RegistryError } from './errors.js';
import { DOCKER_HUB } from './reference.js';

/** Where `ib login` writes: --authfile, else $REGISTRY_AUTH_FILE, else podman's file, else docker's. */
export function loginFile(env: NodeJS.ProcessEnv = process.env, authfile?: string): string {
  if (authfile) return authfile;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers/auth.json');
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
}

/** docker keys Docker Hub by its old URL; podman by `docker.io`. */
function keyFor(file: string, registry: string): string {
  return registry === DOCKER_HUB && file.endsWith('config.json') ? 'https://index.docker.io/v1/' : registry;
}

async function writeAuthFile(path: string, data: AuthFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.ib-${process.pid}`;
  try {
    await writeFile(tmp, JSON.stringify(data, null, '\t') + '\n', { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Ask the registry whether the credentials are good: basic → GET /v2/, bearer → a token. */
export async function checkCredentials(registry: string, creds: Credentials, opts: ConnectionOptions = {}): Promise<void> {
  const conn = new Connection(registry, { ...opts, creds });
  try {
    const res = await conn.send({ method: 'GET', path: '/v2/', repository: '', actions: [], ok: [200] });
    await res.body.dump();
  } catch (e) {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') {
      throw new IbError(`logging in to ${registry}: the registry refused the credentials of "${creds.username}"`, {
        cause: e, hint: 'check the user name and password (or token)',
      });
    }
    throw e;
  } finally {
    await conn.close();
  }
}

/** Check and store credentials; returns the file written. */
export async function login(
  registry: string,
  creds: Credentials,
  opts: ConnectionOptions & { env?: NodeJS.ProcessEnv; verify?: boolean } = {},
): Promise<string> {
  if (!creds.username || creds.username.includes(':')) {
    throw new IbError(`logging in to ${registry}: invalid user name "${creds.username}"`, { hint: 'a user name is required and cannot contain ":"' });
  }
  if (!creds.password) throw new IbError(`logging in to ${registry}: empty password`, { hint: 'pass it with --password-stdin' });
  if (opts.verify !== false) await checkCredentials(registry, creds, opts);
  const file = loginFile(opts.env, opts.authfile);
  const data = (await readAuthFile(file)) ?? {};
  const auths = { ...(data.auths ?? {}) };
  // Replace every spelling of this registry's key with one entry.
  for (const k of Object.keys(auths)) if (normalizeAuthKey(k) === registry) delete auths[k];
  auths[keyFor(file, registry)] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await writeAuthFile(file, { ...data, auths });
  return file;
}

/**
 * Forget the credentials of `registry` (or of every registry with `all`) in every file ib reads
 * them from, so nothing is left behind that ib would still use. Returns the files changed.
 */
export async function logout(
  registry: string | undefined,
  opts: { authfile?: string; env?: NodeJS.ProcessEnv; all?: boolean } = {},
): Promise<string[]> {
  const changed: string[] = [];
  for (const file of authFilePaths(opts.env ?? process.env, opts.authfile)) {
    const data = await readAuthFile(file);
    if (!data?.auths) continue;
    const auths = { ...data.auths };
    let hit = false;
    for (const k of Object.keys(auths)) {
      if (opts.all || normalizeAuthKey(k) === registry) {
        delete auths[k];
        hit = true;
      }
    }
    if (!hit) continue;
    await writeAuthFile(file, { ...data, auths });
    changed.push(file);
  }
  if (changed.length === 0 && !opts.all) {
    throw new IbError(`not logged in to ${registry}`, { hint: `no credentials for it in ${authFilePaths(opts.env ?? process.env, opts.authfile).join(', ')}` });
  }
  return changed;
}
