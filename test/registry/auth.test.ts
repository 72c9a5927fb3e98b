/**
 * Auth against real registries: docker-registry with htpasswd (basic), and with bearer tokens
 * from a real token issuer (test/helpers/token-issuer.ts) that the registry verifies.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hintOf, messageChain } from '../../src/errors.js';
import { Store } from '../../src/oci/store.js';
import { pullImage, pushImage } from '../../src/registry/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/token-issuer.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let work: string;
let store: Store;
let image: TinyImage;
/** An auth file that does not exist: no credentials of this machine leak into the tests. */
let noAuth: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-auth-'));
  store = await Store.open(join(work, 'store'));
  image = await makeImage(store, [{ 'etc/hostname': 'auth\n' }, { 'opt/blob': 50_000 }]);
  noAuth = join(work, 'none.json');
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('basic auth (htpasswd)', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user: 'alice', pass: 's3cret-pw' } });
  });
  afterAll(async () => reg?.stop());

  it('refuses an anonymous push with UNAUTHORIZED and says how to log in', async () => {
    const err = await pushImage(store, image.digest, `${reg.address}/a/tiny:1`, { authfile: noAuth }).catch((e: unknown) => e);
    const chain = messageChain(err);
    expect(chain[0]).toBe(`pushing ${image.digest.slice(0, 19)} to docker://${reg.address}/a/tiny:1`);
    expect(chain.at(-1)).toMatch(new RegExp(`^HEAD http://${reg.address.replace(/\./g, '\\.')}/v2/a/tiny/blobs/sha256:[0-9a-f]{64}: 401 UNAUTHORIZED: authentication required$`));
    expect(hintOf(err)).toBe(`no credentials for ${reg.address}; log in with \`ib login ${reg.address}\` (or pass --creds USER:PASS)`);
  });

  it('pushes with --creds and pulls with credentials from an auth file', async () => {
    await pushImage(store, image.digest, `${reg.address}/a/tiny:1`, { creds: { username: 'alice', password: 's3cret-pw' } });
    const authfile = join(work, 'auth.json');
    await writeFile(authfile, JSON.stringify({ auths: { [reg.address]: { auth: Buffer.from('alice:s3cret-pw').toString('base64') } } }));
    const s2 = await Store.open(join(work, 'basic-pull'));
    const pulled = await pullImage(s2, `${reg.address}/a/tiny:1`, { authfile });
    expect(pulled.descriptor.digest).toBe(image.digest);
  });

  it('says the credentials were refused, without printing them', async () => {
    const err = await pullImage(store, `${reg.address}/a/tiny:1`, { creds: { username: 'alice', password: 'wrong-pw' } }).catch((e: unknown) => e);
    expect(messageChain(err).at(-1)).toBe(`GET http://${reg.address}/v2/a/tiny/manifests/1: 401 UNAUTHORIZED: authentication required (needs pull on repository a/tiny)`);
    expect(hintOf(err)).toBe(`the registry refused the credentials for ${reg.address}; log in again with \`ib login ${reg.address}\``);
    expect(JSON.stringify(messageChain(err))).not.toContain('wrong-pw');
  });
});

describe('bearer tokens', () => {
  let reg: TestRegistry;
  let issuer: TokenIssuer;
  beforeAll(async () => {
    issuer = await startTokenIssuer(work, { bob: 'token-pw' });
    reg = await startRegistry({ tokenAuth: issuer });
  });
  afterAll(async () => {
    await reg?.stop();
    await issuer?.close();
  });

  it('the registry really asks for a bearer token', async () => {
    const r = await fetch(`http://${reg.address}/v2/`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${issuer.realm}",service="ib-test-registry"`);
  });

  it('pushes with one token for the repository scope, fetched once and cached', async () => {
    const from = issuer.requests.length;
    const res = await pushImage(store, image.digest, `${reg.address}/tok/tiny:1`, { creds: { username: 'bob', password: 'token-pw' } });
    expect(res.blobs.map((b) => b.state).sort()).toEqual(['uploaded', 'uploaded', 'uploaded']);
    const mine = issuer.requests.slice(from);
    expect(mine).toEqual([{ user: 'bob', service: 'ib-test-registry', scopes: ['repository:tok/tiny:pull,push'], status: 200 }]);
  });

  it('mounts across repositories with a token that also covers the source', async () => {
    const from = issuer.requests.length;
    const res = await pushImage(store, image.digest, `${reg.address}/tok/other:1`, { creds: { username: 'bob', password: 'token-pw' }, mountFrom: 'tok/tiny' });
    expect(res.blobs.map((b) => b.state)).toEqual(['mounted', 'mounted', 'mounted']);
    expect(issuer.requests.slice(from).map((r) => r.scopes)).toEqual([
      ['repository:tok/other:pull,push'],
      ['repository:tok/other:pull,push', 'repository:tok/tiny:pull'],
    ]);
  });

  it('pulls anonymously with a pull-only token', async () => {
    const s2 = await Store.open(join(work, 'token-pull'));
    const pulled = await pullImage(s2, `${reg.address}/tok/tiny:1`, { authfile: noAuth });
    expect(pulled.descriptor.digest).toBe(image.digest);
    expect(issuer.requests.at(-1)).toEqual({ user: undefined, service: 'ib-test-registry', scopes: ['repository:tok/tiny:pull'], status: 200 });
  });

  it('an anonymous push fails with UNAUTHORIZED (the token lacks push)', async () => {
    const err = await pushImage(store, image.digest, `${reg.address}/tok/anon:1`, { authfile: noAuth }).catch((e: unknown) => e);
    expect(messageChain(err).at(-1)).toMatch(/: 401 UNAUTHORIZED: authentication required/);
    expect(hintOf(err)).toBe(`no credentials for ${reg.address}; log in with \`ib login ${reg.address}\` (or pass --creds USER:PASS)`);
  });

  it('wrong credentials are refused by the token service', async () => {
    const err = await pullImage(store, `${reg.address}/tok/tiny:1`, { creds: { username: 'bob', password: 'nope' } }).catch((e: unknown) => e);
    expect(messageChain(err).at(-2)).toBe(`GET ${issuer.realm}?service=ib-test-registry&scope=repository%3Atok%2Ftiny%3Apull: 401 UNAUTHORIZED: the token service refused the credentials for ${reg.address}`);
  });
});
