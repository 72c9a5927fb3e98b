/**
 * Registry auth: what a `WWW-Authenticate` challenge asks for, and the Authorization header that
 * answers it — Basic with stored credentials, or a Bearer token fetched from the challenge's
 * realm for exactly the scopes a request needs (distribution's token spec:
 * https://distribution.github.io/distribution/spec/auth/token/). Tokens are cached per scope set
 * until shortly before they expire.
 */
import { request, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { Credentials } from './credentials.js';
import { errorFromResponse, networkError, RegistryError } from './errors.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `Bearer realm="…",service="…",scope="repository:a:pull,push"` (values may hold commas). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const p of m[2]!.matchAll(re)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

const TokenResponse = z.object({
  token: z.string().optional(),
  access_token: z.string().optional(),
  expires_in: z.number().optional(),
}).passthrough();

/** `repository:acme/base:pull,push` */
export function repoScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class Authenticator {
  private challenge?: Challenge;
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    private readonly dispatcher: Dispatcher,
    /** Credentials for a repository (cached by the caller), undefined = anonymous. */
    private readonly credentials: (repository: string) => Promise<Credentials | undefined>,
    private readonly userAgent: string,
  ) {}

  /** Remember what the registry asked for; a later request for other scopes can then authenticate up front. */
  learn(header: string | undefined): boolean {
    const c = header ? parseChallenge(header) : undefined;
    if (!c || (c.scheme !== 'basic' && c.scheme !== 'bearer')) return false;
    this.challenge = c;
    return true;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /**
   * Drop the token the registry refused (it expired early, or lacks a scope) — only if it is
   * still the cached one: parallel requests refused with the same token must not throw away the
   * fresh token the first of them already fetched.
   */
  async forget(scopes: readonly string[], sent: string | undefined): Promise<void> {
    const key = scopes.join(' ');
    const p = this.tokens.get(key);
    if (!p || !sent) return;
    const t = await p.catch(() => undefined);
    if (!t || sent === `Bearer ${t.token}`) this.tokens.delete(key);
  }

  /** The Authorization header for a request needing `scopes` on `repository`, or undefined. */
  async header(repository: string, scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    const creds = await this.credentials(repository);
    if (c.scheme === 'basic') {
      return creds ? 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64') : undefined;
    }
    const key = scopes.join(' ');
    let p = this.tokens.get(key);
    if (p) {
      const t = await p.catch(() => undefined);
      if (t && t.expiresAt > Date.now()) return `Bearer ${t.token}`;
      this.tokens.delete(key);
    }
    p = this.fetchToken(c, scopes, creds);
    this.tokens.set(key, p);
    p.catch(() => this.tokens.delete(key));
    return `Bearer ${(await p).token}`;
  }

  private async fetchToken(c: Challenge, scopes: readonly string[], creds: Credentials | undefined): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) {
      throw new RegistryError({ method: 'GET', url: `https://${this.registry}/v2/`, code: 'UNAUTHORIZED', message: 'bearer challenge without a realm' });
    }
    const url = new URL(realm);
    if (c.params.service) url.searchParams.set('service', c.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    if (creds) headers.authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, dispatcher: this.dispatcher });
    } catch (e) {
      throw networkError('GET', url.toString(), e);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      const err = errorFromResponse('GET', url.toString(), res.statusCode, text, 'UNAUTHORIZED');
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new RegistryError({
          method: 'GET', url: url.toString(), status: res.statusCode, code: 'UNAUTHORIZED',
          message: creds ? `the token service refused the credentials for ${this.registry}` : `the token service refused anonymous access to ${this.registry}`,
          cause: err,
        });
      }
      throw err;
    }
    const body = TokenResponse.safeParse(JSON.parse(text || '{}'));
    const token = body.success ? body.data.token ?? body.data.access_token : undefined;
    if (!token) throw new RegistryError({ method: 'GET', url: url.toString(), status: 200, code: 'UNAUTHORIZED', message: 'the token service answered without a token' });
    // The spec's default lifetime is 60 s; renew 10 s early so a long upload does not cross it.
    const life = (body.success ? body.data.expires_in : undefined) ?? 60;
    return { token, expiresAt: Date.now() + Math.max(life - 10, 5) * 1000 };
  }
}
