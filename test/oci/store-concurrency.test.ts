/**
 * Two processes using one store at once: both create it, store the same blob, and tag and untag
 * names in a tight loop. index.json updates are locked read-modify-rename, so no tag is lost and
 * the index is always valid JSON.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { run } from '../../src/exec/run.js';
import { Store } from '../../src/oci/store.js';

const root = join(await mkdtemp(join(tmpdir(), 'ib-store-conc-')), 'store');

afterAll(async () => {
  await rm(join(root, '..'), { recursive: true, force: true });
});

test('two processes tagging at once lose no tag', async () => {
  const worker = join(import.meta.dirname, 'tag-worker.ts');
  const viteNode = join(import.meta.dirname, '../../node_modules/.bin/vite-node');
  await Promise.all(['a', 'b'].map((p) => run(viteNode, [worker, root, p, '40'])));
  const store = await Store.open(root);
  const names = (await store.list()).map((e) => e.name);
  const expected = ['a', 'b'].flatMap((p) => Array.from({ length: 20 }, (_, k) => `${p}:${2 * k + 1}`));
  expect(names.filter((n) => n !== 'shared:latest').sort()).toEqual(expected.sort());
  expect(names).toContain('shared:latest');
  for (const { descriptor } of await store.list()) expect(await store.hasBlob(descriptor.digest)).toBe(true);
  expect(await readdir(join(root, '.ingest'))).toEqual([]);
  expect((await readdir(root)).sort()).toEqual(['.ingest', 'blobs', 'index.json', 'oci-layout']);
});
