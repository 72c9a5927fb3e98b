import { describe, expect, inject, it } from 'vitest';
import { startRegistry } from '../helpers/registry.js';

describe('test registry helper', () => {
  it('the suite-wide registry answers /v2/ anonymously', async () => {
    const address = inject('registry');
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const r = await fetch(`http://${address}/v2/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('an htpasswd registry asks for basic auth and accepts the right password', async () => {
    const reg = await startRegistry({ htpasswd: { user: 'alice', pass: 's3cret' } });
    try {
      const anon = await fetch(`http://${reg.address}/v2/`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toBe('Basic realm="ib-registry"');
      const auth = 'Basic ' + Buffer.from('alice:s3cret').toString('base64');
      const ok = await fetch(`http://${reg.address}/v2/`, { headers: { authorization: auth } });
      expect(ok.status).toBe(200);
      // The access log is read back from the server itself.
      await new Promise((r) => setTimeout(r, 100));
      expect(reg.requests().map((e) => `${e.method} ${e.uri} ${e.status}`)).toContain('GET /v2/ 200');
    } finally {
      await reg.stop();
    }
  });
});
