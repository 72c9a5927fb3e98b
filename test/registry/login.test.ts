/** ib login/logout against real registries (htpasswd and token auth), and using what they write. */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hintOf, messageChain } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { Store } from '../../src/oci/store.js';
import { login, logout, pullImage, pushImage } from '../../src/registry/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage } from '../helpers/tiny-image.js';
import { startTokenIssuer, type TokenIssuer } from '../helpers/token-issuer.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let work: string;
let basic: TestRegistry;
let tokenReg: TestRegistry;
let issuer: TokenIssuer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-login-'));
  basic = await startRegistry({ htpasswd: { user: 'carol', pass: 'c-pass' } });
  issuer = await startTokenIssuer(work, { dave: 'd-pass' });
  tokenReg = await startRegistry({ tokenAuth: issuer });
});
afterAll(async () => {
  await basic?.stop();
  await tokenReg?.stop();
  await issuer?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('login and logout', () => {
  it('refuses wrong credentials and writes nothing', async () => {
    const authfile = join(work, 'wrong.json');
    const err = await login(basic.address, { username: 'carol', password: 'nope' }, { authfile }).catch((e: unknown) => e);
    expect(messageChain(err)[0]).toBe(`logging in to ${basic.address}: the registry refused the credentials of "carol"`);
    expect(hintOf(err)).toBe('check the user name and password (or token)');
    await expect(stat(authfile)).rejects.toThrow(/ENOENT/);
    const tokErr = await login(tokenReg.address, { username: 'dave', password: 'nope' }, { authfile }).catch((e: unknown) => e);
    expect(messageChain(tokErr)[0]).toBe(`logging in to ${tokenReg.address}: the registry refused the credentials of "dave"`);
  });

  it('stores checked credentials (0600, other entries kept) that push, pull and skopeo then use', async () => {
    const authfile = join(work, 'auth.json');
    await writeFile(authfile, JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, credHelpers: { 'h.example': 'x' } }));
    expect(await login(basic.address, { username: 'carol', password: 'c-pass' }, { authfile })).toBe(authfile);
    expect(await login(tokenReg.address, { username: 'dave', password: 'd-pass' }, { authfile })).toBe(authfile);
    expect((await stat(authfile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(authfile, 'utf8'))).toEqual({
      auths: {
        'other.example': { auth: 'eDp5' },
        [basic.address]: { auth: Buffer.from('carol:c-pass').toString('base64') },
        [tokenReg.address]: { auth: Buffer.from('dave:d-pass').toString('base64') },
      },
      credHelpers: { 'h.example': 'x' },
    });
    const store = await Store.open(join(work, 'store'));
    const img = await makeImage(store, [{ 'a.txt': 'login\n' }]);
    await pushImage(store, img.digest, `${basic.address}/l/img:1`, { authfile });
    await pushImage(store, img.digest, `${tokenReg.address}/l/img:1`, { authfile });
    const other = await Store.open(join(work, 'other'));
    expect((await pullImage(other, `${tokenReg.address}/l/img:1`, { authfile })).descriptor.digest).toBe(img.digest);
    // podman/skopeo read the same file.
    const r = await run('skopeo', ['inspect', '--tls-verify=false', '--authfile', authfile, `docker://${basic.address}/l/img:1`]);
    expect((JSON.parse(r.stdout) as { Digest: string }).Digest).toBe(img.digest);
  });

  it('logout removes the entry from every file ib reads', async () => {
    const a = join(work, 'xdg/containers/auth.json');
    const env = { XDG_RUNTIME_DIR: join(work, 'xdg'), DOCKER_CONFIG: join(work, 'dockercfg') };
    await login(basic.address, { username: 'carol', password: 'c-pass' }, { env });
    // docker keyed the same registry with a scheme: that spelling goes too.
    await mkdir(join(work, 'dockercfg'), { recursive: true });
    await writeFile(join(work, 'dockercfg/config.json'), JSON.stringify({ auths: { [`http://${basic.address}`]: { auth: 'eDp5' } } }));
    expect(await logout(basic.address, { env })).toEqual([a, join(work, 'dockercfg/config.json')]);
    expect(JSON.parse(await readFile(a, 'utf8'))).toEqual({ auths: {} });
    const err = await logout(basic.address, { env }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`not logged in to ${basic.address}`);
  });
});
