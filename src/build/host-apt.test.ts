import { describe, expect, it } from 'vitest';
import { aptConf, rewriteSignedBy } from './host-apt.js';

const into = (p: string) => `/work/aptroot${p}`;

describe('rewriteSignedBy', () => {
  it('points deb822 keyring paths into the private root', () => {
    const text = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n';
    expect(rewriteSignedBy(text, into)).toBe(text.replace('Signed-By: /usr', 'Signed-By: /work/aptroot/usr'));
  });

  it('rewrites every path of a list and of one-line sources, and no fingerprint or inline key', () => {
    expect(rewriteSignedBy('signed-by: /a.gpg, /b.asc ABCDEF0123456789\n', into)).toBe('signed-by: /work/aptroot/a.gpg, /work/aptroot/b.asc ABCDEF0123456789\n');
    expect(rewriteSignedBy('deb [arch=amd64 signed-by=/etc/apt/keyrings/x.asc] http://h/debian bookworm main\n', into))
      .toBe('deb [arch=amd64 signed-by=/work/aptroot/etc/apt/keyrings/x.asc] http://h/debian bookworm main\n');
    const inline = 'Types: deb\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF/x\n -----END PGP PUBLIC KEY BLOCK-----\n';
    expect(rewriteSignedBy(inline, into)).toBe(inline);
    expect(rewriteSignedBy('deb http://deb.debian.org/debian bookworm main\n', into)).toBe('deb http://deb.debian.org/debian bookworm main\n');
  });
});

describe('aptConf', () => {
  it('is the mmdebstrap-style config: the private root, ib\'s shared caches, the tree\'s architectures', () => {
    expect(aptConf('/w/aptroot', { architecture: 'amd64', lists: '/c/apt/lists', archives: '/c/apt/archives' }, ['amd64', 'i386'])).toBe([
      'Dir "/w/aptroot/";',
      'Dir::State::Status "/w/aptroot/var/lib/dpkg/status";',
      'Dir::State::Lists "/c/apt/lists/";',
      'Dir::Cache::Archives "/c/apt/archives/";',
      'APT::Architecture "amd64";',
      'APT::Architectures { "amd64"; "i386"; };',
      '',
    ].join('\n'));
  });
});
