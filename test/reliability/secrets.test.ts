/**
 * Secrets never leak (issue 8): registry passwords, bearer tokens and the credentials of a private
 * apt repository must not appear in anything ib prints (normal, `--debug`, `--json` output and
 * errors), in `ib plan`, or in what it stores and pushes (image config and history, layers, the
 * registry's storage). Real parts throughout: docker-registry with htpasswd and with bearer tokens
 * from a real issuer, the compiled CLI, a real build whose repository sits behind basic auth.
 * Every secret is random per run, and every output and blob (layers decompressed) is searched
 * for it, plain and base64-encoded as it travels in an Authorization header.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { Store } from '../../src/oci/store.js';
import { ib, ibOk, type IbResult } from '../helpers/ib.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage } from '../helpers/tiny-image.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/token-issuer.js';

const work = mkdtempSync(join(tmpdir(), 'ib-secrets-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const secret = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;

/** A secret and the forms it travels in: base64 of `user:secret` (Basic auth) and of itself. */
function forms(user: string | undefined, s: string): string[] {
  const out = [s, Buffer.from(s).toString('base64').replace(/=+$/, ''), encodeURIComponent(s)];
  if (user) out.push(Buffer.from(`${user}:${s}`).toString('base64').replace(/=+$/, ''));
  return [...new Set(out)];
}

/** No-auth environment: the machine's own auth files are never read or written. */
function isolatedEnv(dir: string): Record<string, string> {
  mkdirSync(join(dir, 'home'), { recursive: true });
  return { HOME: join(dir, 'home'), XDG_RUNTIME_DIR: join(dir, 'run'), DOCKER_CONFIG: join(dir, 'docker'), REGISTRY_AUTH_FILE: join(dir, 'none.json') };
}

function expectClean(what: string, text: string, secrets: string[]): void {
  for (const s of secrets) if (text.includes(s)) throw new Error(`${what} contains the secret ${JSON.stringify(s)}:\n${text.slice(Math.max(0, text.indexOf(s) - 300), text.indexOf(s) + 300)}`);
}

function expectOutputClean(r: IbResult, what: string, secrets: string[]): void {
  expectClean(`${what}: stdout`, r.stdout, secrets);
  expectClean(`${what}: stderr`, r.stderr, secrets);
}

/** Bytes of a file as a reader would see them: gzip and zstd blobs decompressed (layers are tar). */
function readable(file: string): Buffer {
  const b = readFileSync(file);
  if (b[0] === 0x1f && b[1] === 0x8b) return gunzipSync(b);
  if (b.readUInt32LE(0) === 0xfd2fb528) return execFileSync('zstd', ['-dc', file], { maxBuffer: 2 ** 31 });
  return b;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((p) => join(dir, p)).filter((p) => statSync(p).isFile());
}

/** Search every file under `dir` (blobs decompressed); returns how many were searched. */
function expectTreeClean(dir: string, secrets: string[], skip: (f: string) => boolean = () => false): number {
  let n = 0;
  for (const f of filesUnder(dir)) {
    if (skip(f)) continue;
    const text = readable(f).toString('latin1');
    expectClean(f, text, secrets);
    n++;
  }
  return n;
}

const MODES: [string, string[]][] = [['plain', []], ['--debug', ['--debug']], ['--json', ['--json']], ['--debug --json', ['--debug', '--json']]];

/** An image in the store of `cacheDir`, as the CLI finds it. */
async function tinyImageIn(cacheDir: string, tag: string): Promise<string> {
  const store = await Store.open(join(cacheDir, 'store'));
  return (await makeImage(store, [{ 'etc/hostname': 'secrets\n' }, { 'opt/data': 20_000 }], { tag })).digest;
}

describe('registry passwords (htpasswd basic auth)', () => {
  const PW = secret('pw');
  const WRONG = secret('wrong');
  const S = [...forms('alice', PW), ...forms('alice', WRONG)];
  let reg: TestRegistry;
  let dir: string;
  let env: Record<string, string>;
  let authfile: string;
  const outputs: [string, IbResult][] = [];
  const run = async (what: string, args: string[], opts: { cacheDir?: string; input?: string } = {}) => {
    const r = await ib(args, { env, cacheDir: opts.cacheDir ?? join(dir, 'cache'), input: opts.input });
    outputs.push([what, r]);
    return r;
  };

  beforeAll(async () => {
    reg = await startRegistry({ htpasswd: { user: 'alice', pass: PW } });
    dir = mkdtempSync(join(work, 'basic-'));
    env = isolatedEnv(dir);
    authfile = join(dir, 'auth.json');
    await tinyImageIn(join(dir, 'cache'), 'secrets/tiny:1');
  });
  afterAll(async () => reg?.stop());

  test('a refused login does not echo the password (stdin or -p)', async () => {
    for (const [mode, flags] of MODES) {
      const a = await run(`login --password-stdin ${mode}`, [...flags, 'login', reg.address, '-u', 'alice', '--password-stdin', '--authfile', authfile], { input: `${WRONG}\n` });
      expect(a.code).not.toBe(0);
      expect(a.stderr).toContain('the registry refused the credentials of "alice"');
      const b = await run(`login -p ${mode}`, [...flags, 'login', reg.address, '-u', 'alice', '-p', WRONG, '--authfile', authfile]);
      expect(b.code).not.toBe(0);
      expectOutputClean(a, `wrong login ${mode}`, S);
      expectOutputClean(b, `wrong login -p ${mode}`, S);
    }
    expect(existsSync(authfile)).toBe(false);
  });

  test('ib login writes the password only to the auth file, mode 0600', async () => {
    const r = await run('login', ['--debug', '--json', 'login', reg.address, '-u', 'alice', '--password-stdin', '--authfile', authfile], { input: `${PW}\n` });
    expect(r.code, r.stderr).toBe(0);
    expectOutputClean(r, 'login', S);
    expect(statSync(authfile).mode & 0o777).toBe(0o600);
    expect(readFileSync(authfile, 'utf8')).toContain(Buffer.from(`alice:${PW}`).toString('base64'));
  });

  test('push and pull with the auth file, in every output mode', async () => {
    for (const [mode, flags] of MODES) {
      const tag = mode.replace(/\W+/g, '') || 'plain';
      const push = await run(`push ${mode}`, [...flags, 'push', 'secrets/tiny:1', `${reg.address}/s/tiny:${tag}`, '--authfile', authfile]);
      expect(push.code, push.stderr).toBe(0);
      expectOutputClean(push, `push ${mode}`, S);
      const pull = await run(`pull ${mode}`, [...flags, 'pull', `${reg.address}/s/tiny:${tag}`, '--authfile', authfile], { cacheDir: join(dir, 'pulled') });
      expect(pull.code, pull.stderr).toBe(0);
      expectOutputClean(pull, `pull ${mode}`, S);
    }
    // --debug really logged the authenticated requests that carried the password.
    const debugPush = outputs.find(([w]) => w === 'push --debug')![1];
    expect(debugPush.stderr).toMatch(new RegExp(`PUT http://${reg.address.replace(/\./g, '\\.')}/v2/s/tiny/manifests/debug → 201`));
  });

  test('--creds USER:PASS on the command line, right and wrong', async () => {
    // `ib push` and `inspect` take --authfile; `ib copy` and `pull` take --creds as podman does.
    const ok = await run('copy --creds', ['--debug', '--json', 'copy', 'secrets/tiny:1', `docker://${reg.address}/s/creds:1`, '--creds', `alice:${PW}`]);
    expect(ok.code, ok.stderr).toBe(0);
    const inspect = await run('inspect', ['--debug', 'inspect', `docker://${reg.address}/s/creds:1`, '--authfile', authfile]);
    expect(inspect.code, inspect.stderr).toBe(0);
    const bad = await run('pull --creds wrong', ['--debug', '--json', 'pull', `${reg.address}/s/creds:1`, '--creds', `alice:${WRONG}`]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`the registry refused the credentials for ${reg.address}`);
    const badPush = await run('copy --creds wrong', ['copy', 'secrets/tiny:1', `docker://${reg.address}/s/creds:2`, '--creds', `alice:${WRONG}`]);
    expect(badPush.code).not.toBe(0);
    for (const [what, r] of [['copy', ok], ['inspect', inspect], ['pull', bad], ['copy wrong', badPush]] as const) expectOutputClean(r, `--creds ${what}`, S);
  });

  test('nothing stored or pushed holds the password: local stores, the registry storage', async () => {
    expect(outputs.length).toBeGreaterThanOrEqual(20);
    for (const [what, r] of outputs) expectOutputClean(r, what, S);
    expect(expectTreeClean(join(dir, 'cache'), S)).toBeGreaterThanOrEqual(6);
    expect(expectTreeClean(join(dir, 'pulled'), S)).toBeGreaterThanOrEqual(6);
    // The search does find a secret where it is meant to be: in the auth file ib login wrote.
    expect(() => expectTreeClean(dir, S, (f) => !f.endsWith('auth.json'))).toThrow(/auth\.json contains the secret/);
    // The htpasswd file holds a bcrypt hash, and the registry's data nothing at all.
    expect(expectTreeClean(reg.storageDir, S)).toBeGreaterThanOrEqual(6);
  });
});

describe('bearer tokens', () => {
  const PW = secret('token-pw');
  const WRONG = secret('token-wrong');
  let issuer: TokenIssuer;
  let reg: TestRegistry;
  let dir: string;
  let env: Record<string, string>;
  const outputs: [string, IbResult][] = [];
  const run = async (what: string, args: string[], opts: { cacheDir?: string; input?: string } = {}) => {
    const r = await ib(args, { env, cacheDir: opts.cacheDir ?? join(dir, 'cache'), input: opts.input });
    outputs.push([what, r]);
    return r;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(work, 'bearer-'));
    issuer = await startTokenIssuer(dir, { bob: PW }, { expiresIn: 120 });
    reg = await startRegistry({ tokenAuth: issuer });
    env = isolatedEnv(dir);
    await tinyImageIn(join(dir, 'cache'), 'secrets/tiny:1');
  });
  afterAll(async () => {
    await reg?.stop();
    await issuer?.close();
  });

  test('login, push, pull and a refused password: neither the password nor any token is printed', async () => {
    const authfile = join(dir, 'auth.json');
    const bad = await run('login wrong', ['--debug', '--json', 'login', reg.address, '-u', 'bob', '--password-stdin', '--authfile', authfile], { input: WRONG });
    expect(bad.code).not.toBe(0);
    const login = await run('login', ['--debug', '--json', 'login', reg.address, '-u', 'bob', '--password-stdin', '--authfile', authfile], { input: PW });
    expect(login.code, login.stderr).toBe(0);
    for (const [mode, flags] of MODES) {
      const tag = mode.replace(/\W+/g, '') || 'plain';
      const push = await run(`push ${mode}`, [...flags, 'push', 'secrets/tiny:1', `${reg.address}/t/tiny:${tag}`, '--authfile', authfile]);
      expect(push.code, push.stderr).toBe(0);
      const pull = await run(`pull ${mode}`, [...flags, 'pull', `${reg.address}/t/tiny:${tag}`, '--creds', `bob:${PW}`], { cacheDir: join(dir, 'pulled') });
      expect(pull.code, pull.stderr).toBe(0);
    }
    const badPull = await run('pull wrong', ['--debug', '--json', 'pull', `${reg.address}/t/tiny:plain`, '--creds', `bob:${WRONG}`]);
    expect(badPull.code).not.toBe(0);
    expect(badPull.stderr).toContain('the token service refused the credentials');

    // Tokens were really issued to ib for these pushes and pulls, and all are kept out of sight.
    expect(issuer.requests.filter((r) => r.user === 'bob' && r.status === 200).length).toBeGreaterThanOrEqual(8);
    expect(issuer.tokens.length).toBeGreaterThanOrEqual(8);
    const S = [...forms('bob', PW), ...forms('bob', WRONG), ...issuer.tokens, ...issuer.tokens.map((t) => t.split('.')[2]!)];
    for (const [what, r] of outputs) expectOutputClean(r, what, S);
    expect(expectTreeClean(join(dir, 'cache'), S)).toBeGreaterThanOrEqual(6);
    expect(expectTreeClean(join(dir, 'pulled'), S)).toBeGreaterThanOrEqual(6);
    expect(expectTreeClean(reg.storageDir, S)).toBeGreaterThanOrEqual(6);
  });
});

// ---------------------------------------------------------------------------------------------
// A build with a private apt repository (user:password@ in its URI) and a host environment full
// of secrets.

/** A private apt repository: the host's Debian mirror behind basic auth, every request recorded. */
async function privateRepo(user: string, pass: string): Promise<{ server: Server; uri: (u?: string, p?: string) => string; bare: string; redacted: string; requests: { path: string; authorized: boolean; agent: string }[] }> {
  const { hostDebianMirror } = await import('../../src/packages/index.js');
  const upstream = new URL(hostDebianMirror().replace(/\/+$/, '') + '/');
  const want = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
  const requests: { path: string; authorized: boolean; agent: string }[] = [];
  const server = createServer((req, res) => {
    const authorized = req.headers.authorization === want;
    requests.push({ path: req.url ?? '', authorized, agent: String(req.headers['user-agent'] ?? '') });
    if (!authorized) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end('authentication required\n');
      return;
    }
    const path = (req.url ?? '/').replace(/^\/debian\//, '');
    const headers: Record<string, string> = {};
    for (const h of ['if-modified-since', 'range', 'if-range', 'user-agent']) if (req.headers[h]) headers[h] = String(req.headers[h]);
    const up = httpRequest(new URL(path, upstream), { method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, Object.fromEntries(Object.entries(r.headers).filter(([k]) => k !== 'connection' && k !== 'keep-alive')));
      r.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    up.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    server, requests,
    uri: (u = user, p = pass) => `http://${u}:${p}@127.0.0.1:${port}/debian`,
    bare: `http://127.0.0.1:${port}/debian`,
    redacted: `http://***@127.0.0.1:${port}/debian`,
  };
}

function untar(buf: Buffer, dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-x', '--no-same-owner', '-C', dir], { input: buf, maxBuffer: 2 ** 31 });
}

describe('a build with a private apt repository', () => {
  const base = inject('baseImage');
  const REPO_PW = secret('repo-pw');
  const WRONG = secret('repo-wrong');
  const ENV_SECRET = secret('env-token');
  const S = [...forms('ibuser', REPO_PW), ...forms('ibuser', WRONG), ...forms(undefined, ENV_SECRET)];
  const tag = `test/secrets:${randomBytes(4).toString('hex')}`;
  let repo: Awaited<ReturnType<typeof privateRepo>>;
  let dir: string;
  let env: Record<string, string>;

  const recipe = (uri: string, extra = '') => [
    'name: test/secrets',
    `from: ${base.tag}`,
    'repositories:',
    '  - name: private',
    `    uri: ${uri}`,
    '    suites: [bookworm-updates]',
    'packages:',
    '  install: [hello]',
    'run:',
    // The host's secrets are not in a step's environment, and the credentials file is there
    // while the step runs (its name is listed), gone from the layer after.
    `  - 'echo "token=\${IB_TEST_TOKEN:-unset}" > /etc/ib-env-probe; env >> /etc/ib-env-probe; ls /etc/apt/auth.conf.d > /etc/ib-auth-probe'`,
    extra,
  ].join('\n') + '\n';

  beforeAll(async () => {
    dir = mkdtempSync(join(work, 'build-'));
    env = { IB_TEST_TOKEN: ENV_SECRET, REGISTRY_PASSWORD: ENV_SECRET, AWS_SECRET_ACCESS_KEY: ENV_SECRET };
    repo = await privateRepo('ibuser', REPO_PW);
    writeFileSync(join(dir, 'r.yaml'), recipe(repo.uri()));
  });
  afterAll(async () => {
    await ib(['rm', tag], { cacheDir: base.cacheDir });
    await new Promise<void>((r) => repo?.server.close(() => r()));
  });

  test('refused credentials and a bootstrap mirror with credentials: errors without the password', async () => {
    writeFileSync(join(dir, 'wrong.yaml'), recipe(repo.uri('ibuser', WRONG)));
    const wrong = await ib(['--debug', 'plan', join(dir, 'wrong.yaml')], { cacheDir: base.cacheDir, env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`error: mirror ${repo.redacted} refused access: GET ${repo.bare}/dists/bookworm-updates/InRelease returned 401`);
    expectOutputClean(wrong, 'plan with a wrong password', S);

    writeFileSync(join(dir, 'mirror.yaml'), `name: x\nbootstrap:\n  mirror: ${repo.uri()}\n`);
    const mirror = await ib(['plan', join(dir, 'mirror.yaml')], { cacheDir: join(dir, 'empty-cache'), env });
    expect(mirror.code).toBe(2);
    expect(mirror.stderr).toContain('mirror.yaml:3 .bootstrap.mirror: no user:password@ here: the bootstrap mirror is written into the image');
    expectOutputClean(mirror, 'plan with credentials in the bootstrap mirror', S);
  });

  test('ib plan shows and keys the repository without its credentials', async () => {
    const r = await ibOk(['plan', join(dir, 'r.yaml')], { cacheDir: base.cacheDir, env });
    expectOutputClean(r, 'plan', S);
    const plan = JSON.parse(r.stdout) as { steps: { name: string; key: string; inputs: Record<string, string>; body?: { repositories: { uri: string }[] } }[] };
    const step = plan.steps.find((s) => s.name === 'r.yaml')!;
    expect(step.body!.repositories[0]!.uri).toBe(repo.redacted);
    // ib read the InRelease with the credentials: the input has a real hash, keyed without them.
    expect(step.inputs[`InRelease ${repo.bare} bookworm-updates`]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(repo.requests.some((q) => q.authorized && q.path === '/debian/dists/bookworm-updates/InRelease')).toBe(true);
  });

  test('the build uses the credentials and keeps them out of its output, the image and the cache', async () => {
    const outputs: [string, IbResult][] = [];
    const b = await ib(['--debug', '--json', 'build', join(dir, 'r.yaml'), '--tag', tag], { cacheDir: base.cacheDir, env });
    outputs.push(['build --debug --json', b]);
    expect(b.code, b.stderr.slice(-3000)).toBe(0);
    // Rebuilt from the cache, in plain mode too.
    outputs.push(['build', await ibOk(['build', join(dir, 'r.yaml'), '--tag', tag], { cacheDir: base.cacheDir, env })]);
    for (const [what, r] of outputs) expectOutputClean(r, what, S);
    // apt inside the step read the private repository with the credentials.
    expect(repo.requests.some((q) => q.authorized && /APT/.test(q.agent) && /dists\/bookworm-updates\//.test(q.path))).toBe(true);

    const store = await Store.open(join(base.cacheDir, 'store'));
    const desc = (await store.resolve(tag))!;
    const manifest = JSON.parse(readFileSync(store.blobPath(desc.digest), 'utf8')) as { config: { digest: string }; layers: { digest: string }[] };
    const baseManifest = JSON.parse(readFileSync(store.blobPath(base.digest), 'utf8')) as { layers: { digest: string }[] };
    const own = manifest.layers.filter((l) => !baseManifest.layers.some((x) => x.digest === l.digest));
    expect(own.length).toBeGreaterThanOrEqual(1);
    // The manifest, the config (history, labels, env) and every new layer, decompressed.
    for (const d of [desc.digest, manifest.config.digest, ...own.map((l) => l.digest)]) expectClean(d, readable(store.blobPath(d)).toString('latin1'), S);
    const tree = join(dir, 'layer');
    for (const l of own) untar(readable(store.blobPath(l.digest)), tree);
    expect(readFileSync(join(tree, 'etc/apt/sources.list.d/private.sources'), 'utf8')).toContain(`URIs: ${repo.bare}\n`);
    expect(readFileSync(join(tree, 'etc/ib-auth-probe'), 'utf8')).toBe('zz-ib-build-credentials.conf\n');
    expect(readFileSync(join(tree, 'etc/ib-env-probe'), 'utf8')).toMatch(/^token=unset\n/);
    expect(existsSync(join(tree, 'usr/bin/hello'))).toBe(true);
    expect(filesUnder(tree).filter((f) => f.includes('auth.conf'))).toEqual([]);
    expect(expectTreeClean(tree, S)).toBeGreaterThan(10);
    // The cache's own records: step records, the unpacked layers of this build, apt's lists.
    expect(expectTreeClean(join(base.cacheDir, 'steps'), S)).toBeGreaterThan(0);
    const config = JSON.parse(readFileSync(store.blobPath(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
    for (const id of config.rootfs.diff_ids.slice(baseManifest.layers.length)) expectTreeClean(join(base.cacheDir, 'layers', id.replace('sha256:', '')), S);
    expectClean('apt list names', readdirSync(join(base.cacheDir, 'apt', 'lists')).join('\n'), S);
    expect(filesUnder(join(base.cacheDir, 'tmp')).filter((f) => statSync(f).mtimeMs > Date.now() - 600_000 && readFileSync(f, 'latin1').includes(REPO_PW))).toEqual([]);
  });
});
