/** Packing packages into layers: bounded, biggest alone, stable across rebuilds. */
import { expect, test } from 'vitest';
import { chunkName, commitPathOf, packChunks, priorBins, type Component } from './chunking.js';

const comp = (name: string, size: number): Component => ({ name, size, objects: [`${name}-obj`] });
const many = Array.from({ length: 130 }, (_, i) => comp(`pkg${String(i).padStart(3, '0')}`, 1000 + i * 37));

test('at most maxChunks bins; every package in exactly one; the biggest alone', () => {
  const bins = packChunks(many, 63);
  expect(bins.length).toBeLessThanOrEqual(63);
  expect(bins.flat().sort()).toEqual(many.map((c) => c.name).sort());
  expect(bins[0]).toEqual(['pkg129']);
  expect(bins[1]).toEqual(['pkg128']);
  expect(packChunks(many, 1)).toEqual([many.map((c) => c.name).sort()]);
  expect(packChunks(many, 0)).toEqual([]);
  expect(packChunks([comp('a', 5), comp('b', 9)], 63)).toEqual([['b'], ['a']]);
  // Packages that own nothing (only directories, or files another package also ships) get no layer.
  expect(packChunks([{ name: 'empty', size: 0, objects: [] }, comp('a', 1)], 10)).toEqual([['a']]);
});

test('a small package stays in its group however the other sizes change', () => {
  const before = packChunks(many, 63);
  const grown = many.map((c) => (c.name === 'pkg070' ? { ...c, size: c.size + 50 } : c));
  const after = packChunks(grown, 63);
  const binOf = (bins: string[][], n: string) => bins.findIndex((b) => b.includes(n));
  for (const n of ['pkg000', 'pkg010', 'pkg040']) expect(binOf(after, n)).toBe(binOf(before, n));
});

test('with the previous build, packages keep their layer; new ones get a new layer or the smallest', () => {
  const prior = [['pkg129'], ['pkg000', 'pkg001'], ['gone']];
  const comps = [comp('pkg129', 10), comp('pkg000', 5), comp('pkg001', 5), comp('new1', 1), comp('new2', 1)];
  expect(packChunks(comps, 10, prior)).toEqual([['pkg129'], ['pkg000', 'pkg001'], ['new1', 'new2']]);
  expect(packChunks(comps, 3, prior)).toEqual([['pkg129'], ['pkg000', 'pkg001'], ['new1', 'new2']]);
  expect(packChunks(comps, 2, prior)).toEqual([['pkg129', 'new1', 'new2'], ['pkg000', 'pkg001']]);
});

test('previous builds are read from the layers\' ostree.components annotations', () => {
  const d = (a?: string) => ({ mediaType: 'x', digest: `sha256:${'0'.repeat(64)}`, size: 1, ...(a ? { annotations: { 'ostree.components': a } } : {}) });
  expect(priorBins({ schemaVersion: 2, config: d(), layers: [d(), d('bash'), d('libc6,zlib1g')] })).toEqual([['bash'], ['libc6', 'zlib1g']]);
  expect(priorBins(undefined)).toBeUndefined();
});

test('dpkg paths map to the prepared tree; layer names follow ostree-ext', () => {
  expect(commitPathOf('/bin/ping')).toBe('usr/bin/ping');
  expect(commitPathOf('/lib64/ld-linux-x86-64.so.2')).toBe('usr/lib64/ld-linux-x86-64.so.2');
  expect(commitPathOf('/etc/bash.bashrc')).toBe('usr/etc/bash.bashrc');
  expect(commitPathOf('/usr/bin/bash')).toBe('usr/bin/bash');
  expect(commitPathOf('/.')).toBeUndefined();
  expect(chunkName(['bash'])).toBe('bash');
  expect(chunkName(['a', 'b', 'c'])).toBe('a and b and c');
  expect(chunkName(['a', 'b', 'c', 'd', 'e', 'f'])).toBe('6 components');
});
