/**
 * A small bearer-token issuer for a docker-registry started with token auth (distribution's
 * token spec: https://distribution.github.io/distribution/spec/auth/token/). It signs ES256 JWTs
 * with a key whose self-signed certificate (made by openssl) is the registry's root bundle, and
 * carries the certificate in the `x5c` header so the registry can verify it. Known users get the
 * actions they ask for; anonymous callers get `pull` only. Every token request is recorded so
 * tests can prove caching and scopes.
 */
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';

export interface TokenRequest {
  user?: string;
  service?: string;
  scopes: string[];
  status: number;
}

export interface TokenIssuer {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  requests: TokenRequest[];
  /** Every token issued, so tests can look for them where they must not be. */
  tokens: string[];
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenIssuer(dir: string, users: Record<string, string>, opts: { expiresIn?: number } = {}): Promise<TokenIssuer> {
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=ib-test-token-issuer', '-days', '2',
  ]);
  const key = createPrivateKey(await readFile(keyFile));
  const certDer = new X509Certificate(await readFile(certFile)).raw;
  const service = 'ib-test-registry';
  const issuer = 'ib-test-issuer';
  const requests: TokenRequest[] = [];
  const tokens: string[] = [];
  let n = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (users[u!] === undefined || users[u!] !== p.join(':')) {
        requests.push({ user: u, service: url.searchParams.get('service') ?? undefined, scopes, status: 401 });
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      user = u;
    }
    requests.push({ user, service: url.searchParams.get('service') ?? undefined, scopes, status: 200 });
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      return { type: type!, name: rest.join(':'), actions: user ? actions : actions.filter((a) => a === 'pull') };
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = opts.expiresIn ?? 300;
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: `ib-test-${++n}`, access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(sig)}`;
    tokens.push(token);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  };

  const server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    requests,
    tokens,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
