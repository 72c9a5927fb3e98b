/**
 * One registry host: which scheme it speaks, its auth state, and `send()`, the single place a
 * registry request is made. `send` adds the Authorization header a request's scopes need, answers
 * a 401 challenge once, follows redirects (blob storage often lives elsewhere, and must not get
 * our token), and retries resets, timeouts, 429 and 5xx with backoff when the request may be
 * repeated (its body comes from a factory, so a retry re-reads it from the start).
 */
import { shutdown } from '../exec/shutdown.js';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { debug } from '../log.js';
import { Authenticator, repoScope } from './auth.js';
import { findCredentials, type Credentials } from './credentials.js';
import {
  errorFromResponse, isRetriableNetworkError, isRetriableStatus, networkError, redactUrl, RegistryError, type RegistryErrorCode,
} from './errors.js';
import { apiHost, isLoopbackHost } from './reference.js';
import { backoffMs, resolveRetry, sleep, type RetryPolicy } from './retry.js';

export interface ConnectionOptions {
  /** false: allow plain http and unverified TLS on any host (`--tls-verify=false`). */
  tlsVerify?: boolean;
  /** The same as `tlsVerify: false`. */
  insecure?: boolean;
  /** Explicit credentials (--creds); otherwise the auth files are searched. */
  creds?: Credentials;
  /** Read credentials from this file only (--authfile). */
  authfile?: string;
  /** An HTTP dispatcher to use instead of ib's own Agent (tests, proxies). */
  dispatcher?: Dispatcher;
  retry?: Partial<RetryPolicy>;
  userAgent?: string;
}

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  method: Method;
  /** `/v2/…` on this registry, or an absolute URL (an upload Location). */
  path: string;
  repository: string;
  actions: readonly ('pull' | 'push')[];
  /** More token scopes, e.g. pull on the repository a blob is mounted from. */
  extraScopes?: readonly string[];
  headers?: Record<string, string>;
  body?: () => Readable | Buffer | string;
  /** Statuses that are answers rather than errors. */
  ok: readonly number[];
  /** The code a bare 404 means here (BLOB_UNKNOWN for blobs, MANIFEST_UNKNOWN for manifests). */
  notFound?: RegistryErrorCode;
  /** Default true. False when repeating the request could do harm (a PATCH mid-upload). */
  retry?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Must be consumed or dumped by the caller. */
  body: Dispatcher.ResponseData['body'];
  url: string;
}

export function header(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

const REDIRECTS = [301, 302, 303, 307, 308];

export class Connection {
  readonly registry: string;
  readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly auth: Authenticator;
  private readonly retryPolicy: RetryPolicy;
  private readonly userAgent: string;
  private readonly credsCache = new Map<string, Promise<Credentials | undefined>>();
  private originP?: Promise<string>;
  private readonly insecure: boolean;

  constructor(registry: string, private readonly opts: ConnectionOptions = {}) {
    this.registry = registry;
    this.insecure = opts.insecure === true || opts.tlsVerify === false;
    this.ownsDispatcher = !opts.dispatcher;
    // A registry that goes silent mid-answer is given up on (and retried) after this long;
    // IB_REGISTRY_TIMEOUT (seconds) shortens it, e.g. for tests of a stalling registry.
    const envTimeout = Number(process.env.IB_REGISTRY_TIMEOUT) * 1000;
    const timeout = Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 120_000;
    this.dispatcher = opts.dispatcher ?? new Agent({
      connections: 16,
      keepAliveTimeout: 10_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      // Like docker, a loopback registry counts as insecure: its certificate is not checked.
      connect: this.insecure || isLoopbackHost(apiHost(registry)) ? { rejectUnauthorized: false } : undefined,
    });
    this.retryPolicy = resolveRetry(opts.retry);
    this.userAgent = opts.userAgent ?? 'ib/0.1';
    this.auth = new Authenticator(registry, this.dispatcher, (repo) => this.credentials(repo), this.userAgent);
  }

  get retry(): RetryPolicy {
    return this.retryPolicy;
  }

  credentials(repository: string): Promise<Credentials | undefined> {
    if (this.opts.creds) return Promise.resolve(this.opts.creds);
    let p = this.credsCache.get(repository);
    if (!p) {
      p = findCredentials(this.registry, repository, { authfile: this.opts.authfile });
      this.credsCache.set(repository, p);
    }
    return p;
  }

  /**
   * `http(s)://host[:port]`, found with one `GET /v2/` ping that also learns the auth challenge
   * (as docker does): parallel first requests then authenticate up front instead of each
   * collecting a 401 and fetching its own token. A loopback registry is tried on http first,
   * then https; with `insecure`, https first and http as the fallback; otherwise https only.
   */
  origin(): Promise<string> {
    this.originP ??= (async () => {
      const host = apiHost(this.registry);
      const candidates = isLoopbackHost(host)
        ? [`http://${host}`, `https://${host}`]
        : this.insecure ? [`https://${host}`, `http://${host}`] : [`https://${host}`];
      for (const c of candidates) if (await this.ping(c)) return c;
      // Unreachable now: the request itself will retry and report the failure.
      return candidates[0]!;
    })();
    return this.originP;
  }

  private async ping(origin: string): Promise<boolean> {
    try {
      const r = await request(`${origin}/v2/`, {
        method: 'GET', dispatcher: this.dispatcher, headersTimeout: 30_000, headers: { 'user-agent': this.userAgent },
      });
      // Go's TLS servers answer plain http with this 400: the registry speaks https.
      const text = r.statusCode === 400 ? await r.body.text() : (await r.body.dump(), '');
      if (/HTTP request to an HTTPS server/i.test(text)) return false;
      if (r.statusCode === 401) this.auth.learn(header(r, 'www-authenticate'));
      debug(`registry ${this.registry}: ${origin} answers /v2/ with ${r.statusCode}`);
      return true;
    } catch (e) {
      debug(`registry ${this.registry}: ${origin} unreachable: ${(e as Error).message}`);
      return false;
    }
  }

  async url(path: string): Promise<string> {
    return /^https?:\/\//.test(path) ? path : `${await this.origin()}${path}`;
  }

  async send(req: RegistryRequest): Promise<RegistryResponse> {
    const origin = await this.origin();
    let url = new URL(req.path, origin).toString();
    const scopes = [...(req.actions.length ? [repoScope(req.repository, req.actions)] : []), ...(req.extraScopes ?? [])];
    const policy = this.retryPolicy;
    let attempt = 0;
    let challenged = false;
    let redirects = 0;
    for (;;) {
      attempt++;
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      // Only our registry gets our credentials; a redirect to blob storage carries its own signature.
      const ours = new URL(url).origin === origin;
      if (ours) {
        const a = await this.auth.header(req.repository, scopes);
        if (a) headers.authorization = a;
      }
      let res: Dispatcher.ResponseData;
      try {
        // SIGINT/SIGTERM abort the transfer: without the signal a push or pull ran on to its
        // end after ib said "stopping…".
        res = await request(url, { method: req.method, headers, body: req.body?.(), dispatcher: this.dispatcher, signal: shutdown.signal });
      } catch (e) {
        if (req.retry !== false && isRetriableNetworkError(e) && attempt < policy.attempts) {
          await sleep(backoffMs(policy, attempt));
          continue;
        }
        throw networkError(req.method, url, e);
      }
      const status = res.statusCode;
      debug(`${req.method} ${redactUrl(url)} → ${status}`);
      if (status === 401 && ours && !challenged) {
        challenged = true;
        attempt--;
        const wwwAuth = header(res, 'www-authenticate');
        await res.body.dump();
        await this.auth.forget(scopes, headers.authorization);
        if (this.auth.learn(wwwAuth)) continue;
        throw await this.unauthorized(req, url, status, '');
      }
      if (req.ok.includes(status)) return { status, headers: res.headers, body: res.body, url };
      const location = header(res, 'location');
      if (REDIRECTS.includes(status) && location && (req.method === 'GET' || req.method === 'HEAD') && redirects < 5) {
        redirects++;
        attempt--;
        await res.body.dump();
        url = new URL(location, url).toString();
        continue;
      }
      const text = req.method === 'HEAD' ? '' : await res.body.text().catch(() => '');
      if (req.method === 'HEAD') await res.body.dump().catch(() => undefined);
      if (req.retry !== false && isRetriableStatus(status) && attempt < policy.attempts) {
        await sleep(backoffMs(policy, attempt, header(res, 'retry-after')));
        continue;
      }
      if (status === 401) throw await this.unauthorized(req, url, status, text);
      throw errorFromResponse(req.method, url, status, text, req.notFound);
    }
  }

  private async unauthorized(req: RegistryRequest, url: string, status: number, text: string): Promise<RegistryError> {
    const inner = errorFromResponse(req.method, url, status, text, 'UNAUTHORIZED');
    const creds = await this.credentials(req.repository).catch(() => undefined);
    const hint = creds
      ? `the registry refused the credentials for ${this.registry}${req.actions.includes('push') ? ' (or they may not push to ' + req.repository + ')' : ''}; log in again with \`ib login ${this.registry}\``
      : `no credentials for ${this.registry}; log in with \`ib login ${this.registry}\` (or pass --creds USER:PASS)`;
    return new RegistryError({ method: req.method, url, status, code: inner.code === 'HTTP' ? 'UNAUTHORIZED' : inner.code, message: inner.detail, hint });
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** Connections per registry host, sharing options, token caches and sockets for one operation. */
export class RegistrySession {
  private readonly conns = new Map<string, Connection>();
  constructor(readonly opts: ConnectionOptions = {}) {}

  connection(registry: string): Connection {
    let c = this.conns.get(registry);
    if (!c) {
      c = new Connection(registry, this.opts);
      this.conns.set(registry, c);
    }
    return c;
  }

  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.close()));
    this.conns.clear();
  }
}
