/**
 * The real registry for tests: Debian's `docker-registry` (distribution 2.8) started on
 * 127.0.0.1 with registry/config.yml, a free port and its storage in a temp dir. Options add
 * htpasswd basic auth or bearer-token auth. The server's access log (stdout) is parsed so tests
 * can assert what the registry really received (e.g. no blob PUT/PATCH on a HEAD-skipped push).
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, spawn } from '../../src/exec/run.js';

export const REGISTRY_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../../registry/config.yml');

export interface TokenAuthOptions {
  /** URL of the token endpoint the registry sends clients to. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the certificate(s) whose keys sign tokens. */
  rootCertBundle: string;
}

export interface RegistryOptions {
  htpasswd?: { user: string; pass: string };
  tokenAuth?: TokenAuthOptions;
  /** Default: a free port chosen by the kernel. */
  port?: number;
  /** Serve https with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
}

/** One line of the registry's access log. */
export interface AccessLogEntry {
  method: string;
  /** Request URI as received (path and query). */
  uri: string;
  status: number;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  address: string;
  storageDir: string;
  /** Requests the registry has logged so far, oldest first. */
  requests(): AccessLogEntry[];
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

// 127.0.0.1 - - [22/Nov/2026:01:17:14 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "curl/7.88.1"
const ACCESS_RE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) [^"]*" (\d{3}) /;

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const storageDir = await mkdtemp(join(tmpdir(), 'ib-registry-'));
  const port = opts.port ?? (await freePort());
  const address = `127.0.0.1:${port}`;
  const env: Record<string, string> = {
    REGISTRY_HTTP_ADDR: address,
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(storageDir, 'data'),
    REGISTRY_HTTP_SECRET: randomBytes(24).toString('hex'),
  };
  if (opts.htpasswd) {
    // distribution only accepts bcrypt entries; Node has no bcrypt, apache2-utils does.
    const r = await run('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.pass]);
    const file = join(storageDir, 'htpasswd');
    await writeFile(file, r.stdout);
    env.REGISTRY_AUTH_HTPASSWD_REALM = 'ib-registry';
    env.REGISTRY_AUTH_HTPASSWD_PATH = file;
  }
  if (opts.tls) {
    env.REGISTRY_HTTP_TLS_CERTIFICATE = opts.tls.cert;
    env.REGISTRY_HTTP_TLS_KEY = opts.tls.key;
  }
  if (opts.tokenAuth) {
    env.REGISTRY_AUTH_TOKEN_REALM = opts.tokenAuth.realm;
    env.REGISTRY_AUTH_TOKEN_SERVICE = opts.tokenAuth.service;
    env.REGISTRY_AUTH_TOKEN_ISSUER = opts.tokenAuth.issuer;
    env.REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE = opts.tokenAuth.rootCertBundle;
  }

  const child = spawn('docker-registry', ['serve', REGISTRY_CONFIG], { env, stdout: 'pipe' });
  const log: AccessLogEntry[] = [];
  let partial = '';
  // Always drain stdout: a full pipe would block the registry's request handlers.
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const m = ACCESS_RE.exec(line);
      if (m) log.push({ method: m[1]!, uri: m[2]!, status: Number(m[3]) });
    }
  });
  let exited: unknown;
  let stopping = false;
  const done = child.done.then(
    () => { exited = new Error('docker-registry exited'); },
    (e: unknown) => { exited = e; },
  );

  // A test process that dies (or a global setup that throws before its teardown is returned)
  // must not leave a registry running or its temp dir behind.
  const onExit = () => {
    child.kill();
    rmSync(storageDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const stop = async () => {
    if (!stopping) {
      stopping = true;
      process.off('exit', onExit);
      child.kill();
    }
    await done;
    await rm(storageDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      await rm(storageDir, { recursive: true, force: true });
      throw exited;
    }
    try {
      // Any HTTP answer (200, 401 with auth on, 400 "HTTP request to an HTTPS server") means it is up.
      const r = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`docker-registry did not answer on ${address} within 15 s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { address, storageDir, requests: () => [...log], stop };
}
