import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { formatRef, isLoopbackHost, parseDockerRef, parseRef, storeNameOf, VALID_FORMS } from './reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseRef', () => {
  it.each([
    ['docker://localhost:5000/acme/base:1', { transport: 'docker', registry: 'localhost:5000', repository: 'acme/base', tag: '1' }],
    ['docker://debian', { transport: 'docker', registry: 'docker.io', repository: 'library/debian', tag: 'latest' }],
    ['docker://debian:12', { transport: 'docker', registry: 'docker.io', repository: 'library/debian', tag: '12' }],
    ['docker://acme/tools', { transport: 'docker', registry: 'docker.io', repository: 'acme/tools', tag: 'latest' }],
    ['docker://index.docker.io/debian', { transport: 'docker', registry: 'docker.io', repository: 'library/debian', tag: 'latest' }],
    ['docker://quay.io/a/b/c:v1.2-x_y', { transport: 'docker', registry: 'quay.io', repository: 'a/b/c', tag: 'v1.2-x_y' }],
    [`127.0.0.1:5000/acme/base@${D}`, { transport: 'docker', registry: '127.0.0.1:5000', repository: 'acme/base', digest: D }],
    [`localhost/acme/base:2@${D}`, { transport: 'docker', registry: 'localhost', repository: 'acme/base', tag: '2', digest: D }],
    ['ghcr.io/acme/base', { transport: 'docker', registry: 'ghcr.io', repository: 'acme/base', tag: 'latest' }],
    ['acme/base:1', { transport: 'store', name: 'acme/base', tag: '1' }],
    ['debian', { transport: 'store', name: 'debian', tag: 'latest' }],
    [`acme/base@${D}`, { transport: 'store', name: 'acme/base', digest: D }],
    ['oci:./out:base', { transport: 'oci', dir: './out', tag: 'base' }],
    ['oci:/tmp/layout', { transport: 'oci', dir: '/tmp/layout' }],
    ['docker-daemon:acme/base:1', { transport: 'docker-daemon', name: 'docker.io/acme/base', tag: '1' }],
    ['docker-daemon:debian', { transport: 'docker-daemon', name: 'docker.io/library/debian', tag: 'latest' }],
    ['docker-daemon:localhost:5000/x:y', { transport: 'docker-daemon', name: 'localhost:5000/x', tag: 'y' }],
  ])('%s', (input, want) => {
    expect(parseRef(input)).toEqual(want);
  });

  it('round-trips through formatRef', () => {
    for (const s of ['docker://localhost:5000/acme/base:1', 'acme/base:1', 'oci:./out:base', 'docker-daemon:docker.io/acme/base:1', `docker://docker.io/library/debian@${D}`]) {
      expect(formatRef(parseRef(s))).toBe(s);
    }
  });

  it.each([
    ['Acme/base:1', 'invalid image reference "Acme/base:1": repository name must be lowercase'],
    ['docker://localhost:5000/Acme', 'invalid image reference "docker://localhost:5000/Acme": repository name must be lowercase'],
    ['acme/base:-x', `invalid image reference "acme/base:-x": bad tag "-x" (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')`],
    ['acme/base@sha256:abc', 'invalid image reference "acme/base@sha256:abc": bad digest "sha256:abc" (expected sha256: and 64 lowercase hex digits)'],
    ['docker://', 'invalid image reference "docker://": empty name'],
    ['oci:', 'invalid image reference "oci:": oci: needs a directory, e.g. oci:./out:base'],
    ['containers-storage:acme/base:1', 'invalid image reference "containers-storage:acme/base:1": unsupported transport "containers-storage:"'],
    ['https://example.com/x', 'invalid image reference "https://example.com/x": unsupported transport "https://"'],
    ['acme//base', `invalid image reference "acme//base": bad repository name "acme//base" (lowercase letters, digits, separators '.', '_', '__', '-' and '/')`],
    ['docker-daemon:', 'invalid image reference "docker-daemon:": docker-daemon: needs an image name, e.g. docker-daemon:debian:12'],
  ])('rejects %s', (input, message) => {
    let err: unknown;
    try {
      parseRef(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe(message);
    expect((err as UsageError).hint).toBe(VALID_FORMS);
    expect((err as UsageError).exitCode).toBe(2);
  });

  it('lists the valid forms in the hint', () => {
    expect(VALID_FORMS).toBe('valid forms: docker://HOST/REPO[:TAG][@DIGEST], HOST/REPO[:TAG] (a name with a registry host), NAME[:TAG] (the local store), oci:DIR[:TAG], docker-daemon:NAME[:TAG]');
  });
});

describe('helpers', () => {
  it('parseDockerRef accepts a name without docker://', () => {
    expect(parseDockerRef('localhost:5000/t/base:1')).toEqual({ transport: 'docker', registry: 'localhost:5000', repository: 't/base', tag: '1' });
  });
  it('storeNameOf keeps the registry host', () => {
    expect(storeNameOf(parseDockerRef('localhost:5000/t/base:1'))).toBe('localhost:5000/t/base:1');
  });
  it('isLoopbackHost', () => {
    expect(isLoopbackHost('localhost:5000')).toBe(true);
    expect(isLoopbackHost('127.0.0.1:5000')).toBe(true);
    expect(isLoopbackHost('127.8.9.10')).toBe(true);
    expect(isLoopbackHost('[::1]:5000')).toBe(true);
    expect(isLoopbackHost('registry.example.com')).toBe(false);
    expect(isLoopbackHost('127.0.0.1.nip.io')).toBe(false);
  });
});
