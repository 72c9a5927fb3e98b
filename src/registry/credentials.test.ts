import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authFilePaths, findCredentials, normalizeAuthKey, parseCreds } from './credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ib-creds-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, json: unknown): Promise<string> {
  const p = join(dir, name);
  await mkdir(join(p, '..'), { recursive: true });
  await writeFile(p, typeof json === 'string' ? json : JSON.stringify(json));
  return p;
}

describe('credentials', () => {
  it('searches REGISTRY_AUTH_FILE, then XDG_RUNTIME_DIR/containers/auth.json, then DOCKER_CONFIG', () => {
    expect(authFilePaths({ REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/user/0', HOME: '/root' })).toEqual([
      '/a.json', '/run/user/0/containers/auth.json', '/root/.docker/config.json',
    ]);
    expect(authFilePaths({ DOCKER_CONFIG: '/etc/dk', HOME: '/root' })).toEqual(['/etc/dk/config.json']);
    expect(authFilePaths({ REGISTRY_AUTH_FILE: '/a.json' }, '/explicit.json')).toEqual(['/explicit.json']);
  });

  it('normalises the ways podman and docker key registries', () => {
    expect(normalizeAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeAuthKey('http://localhost:5000')).toBe('localhost:5000');
    expect(normalizeAuthKey('quay.io/acme')).toBe('quay.io/acme');
  });

  it('takes the first file that has the registry, and the most specific key in it', async () => {
    const first = await file('run/containers/auth.json', {
      auths: { 'localhost:5000': { auth: b64('host:pw1') }, 'localhost:5000/acme': { auth: b64('ns:pw2') } },
    });
    const docker = await file('docker/config.json', {
      auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw3') }, 'localhost:5000': { auth: b64('later:x') } },
    });
    const env = { REGISTRY_AUTH_FILE: join(dir, 'missing.json'), XDG_RUNTIME_DIR: join(dir, 'run'), DOCKER_CONFIG: join(dir, 'docker') };
    expect(await findCredentials('localhost:5000', 'acme/base', { env })).toEqual({ username: 'ns', password: 'pw2' });
    expect(await findCredentials('localhost:5000', 'other/x', { env })).toEqual({ username: 'host', password: 'pw1' });
    expect(await findCredentials('docker.io', 'library/debian', { env })).toEqual({ username: 'hub', password: 'pw3' });
    expect(await findCredentials('quay.io', 'a/b', { env })).toBeUndefined();
    expect(first && docker).toBeTruthy();
  });

  it('passwords may contain colons; identity tokens become <token> credentials', async () => {
    const p = await file('colon.json', { auths: { 'r.example': { auth: b64('u:pa:ss') }, 't.example': { identitytoken: 'tok' } } });
    expect(await findCredentials('r.example', undefined, { authfile: p })).toEqual({ username: 'u', password: 'pa:ss' });
    expect(await findCredentials('t.example', undefined, { authfile: p })).toEqual({ username: '<token>', password: 'tok' });
  });

  it('asks a credential helper named in credHelpers', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-ibtest');
    await writeFile(helper, '#!/bin/sh\nread server\n[ "$1" = get ] && [ "$server" = helper.example ] && echo \'{"ServerURL":"helper.example","Username":"hu","Secret":"hs"}\' && exit 0\necho "credentials not found in native keychain"; exit 1\n');
    await chmod(helper, 0o755);
    const p = await file('helpers.json', { credHelpers: { 'helper.example': 'ibtest' } });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      expect(await findCredentials('helper.example', 'x/y', { authfile: p })).toEqual({ username: 'hu', password: 'hs' });
    } finally {
      process.env.PATH = path;
    }
  });

  it('reports a broken file with what to do', async () => {
    const p = await file('broken.json', '{"auths": {');
    await expect(findCredentials('x.example', undefined, { authfile: p })).rejects.toThrow(`credentials file ${p} is not valid JSON`);
    const q = await file('badauth.json', { auths: { 'x.example': { auth: b64('nocolon') } } });
    await expect(findCredentials('x.example', undefined, { authfile: q })).rejects.toThrow(`credentials for "x.example" in ${q} are malformed (auth is not base64 of user:password)`);
  });

  it('parses --creds USER:PASS', () => {
    expect(parseCreds('alice:pa:ss')).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(() => parseCreds('alice')).toThrow('--creds: no password given');
    expect(() => parseCreds(':x')).toThrow('--creds: the user name is empty');
  });
});
