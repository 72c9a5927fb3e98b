import { expect, test } from 'vitest';
import { parseKargsToml } from './kargs.js';

test('bootc kargs.d files: kargs, architecture match, clear errors', () => {
  expect(parseKargsToml('kargs = ["console=ttyS0,115200", "quiet"]\n', 'f')).toEqual(['console=ttyS0,115200', 'quiet']);
  expect(parseKargsToml('match-architectures = ["aarch64"]\nkargs = ["a"]\n', 'f')).toBeUndefined();
  expect(parseKargsToml('match-architectures = ["x86_64"]\nkargs = ["a"] # why\n', 'f')).toEqual(['a']);
  expect(parseKargsToml('# nothing\n', 'f')).toEqual([]);
  expect(() => parseKargsToml("kargs = ['single']\n", '/usr/lib/bootc/kargs.d/x.toml')).toThrow('/usr/lib/bootc/kargs.d/x.toml: kargs must be a one-line array of double-quoted strings');
});
