/**
 * https against a real TLS docker-registry: a loopback registry is found on https after http
 * fails, a named registry is verified against a CA (trusted → works, unknown → a clear error).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hintOf, messageChain } from '../../src/errors.js';
import { run } from '../../src/exec/run.js';
import { Store } from '../../src/oci/store.js';
import { pullImage, pushImage } from '../../src/registry/index.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImage, type TinyImage } from '../helpers/tiny-image.js';
import { logger } from '../../src/log.js';

// Progress lines would only clutter the test output.
logger.quiet = true;

let work: string;
let reg: TestRegistry;
let store: Store;
let image: TinyImage;
let caPem: string;

/** Resolve every name to 127.0.0.1, so `registry.test` reaches the local TLS registry. */
const lookup = (_host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
  if (opts?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ib-tls-'));
  const f = (n: string) => join(work, n);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=ib test CA', '-days', '2']);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('reg.key'), '-out', f('reg.csr'), '-subj', '/CN=registry.test']);
  await writeFile(f('ext.cnf'), 'subjectAltName=DNS:registry.test,IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('reg.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('reg.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  caPem = await readFile(f('ca.crt'), 'utf8');
  reg = await startRegistry({ tls: { cert: f('reg.crt'), key: f('reg.key') } });
  store = await Store.open(f('store'));
  image = await makeImage(store, [{ 'etc/tls': 'yes\n' }]);
});
afterAll(async () => {
  await reg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('https registries', () => {
  it('finds a loopback registry on https when it does not speak http', async () => {
    const res = await pushImage(store, image.digest, `${reg.address}/tls/img:1`);
    expect(res.digest).toBe(image.digest);
    const pulled = await pullImage(await Store.open(join(work, 'pull1')), `${reg.address}/tls/img:1`);
    expect(pulled.descriptor.digest).toBe(image.digest);
    const plain = await fetch(`http://${reg.address}/v2/`);
    expect(plain.status).toBe(400);
  });

  it('verifies a named registry against a trusted CA', async () => {
    const port = reg.address.split(':')[1];
    const dispatcher = new Agent({ connect: { lookup, ca: caPem } as never });
    try {
      const res = await pushImage(store, image.digest, `registry.test:${port}/tls/named:1`, { dispatcher });
      expect(res.digest).toBe(image.digest);
    } finally {
      await dispatcher.close();
    }
  });

  it('refuses a certificate no CA vouches for, and says what to do', async () => {
    const port = reg.address.split(':')[1];
    const dispatcher = new Agent({ connect: { lookup } as never });
    try {
      const err = await pushImage(store, image.digest, `registry.test:${port}/tls/named:2`, { dispatcher, retry: { attempts: 1 } }).catch((e: unknown) => e);
      expect(messageChain(err).at(-2)).toMatch(new RegExp(`^HEAD https://registry\\.test:${port}/v2/tls/named/blobs/sha256:[0-9a-f]{64}: NETWORK: unable to verify the first certificate \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\)$`));
      expect(hintOf(err)).toBe('the registry\'s TLS certificate is not trusted; fix it, or use --tls-verify=false for a test registry');
    } finally {
      await dispatcher.close();
    }
  });
});
