/**
 * A separate process hammering one store (for the concurrency test): opens it (maybe creating
 * it at the same moment as another worker), stores a shared blob and its own manifests, tags
 * each, and untags every other one.   vite-node tag-worker.ts STORE PREFIX COUNT
 */
import { Readable } from 'node:stream';
import { Store } from '../../src/oci/store.js';
import { MediaType } from '../../src/oci/types.js';

const [root, prefix, count] = process.argv.slice(2);
const store = await Store.open(root!);
await store.putBlob(Readable.from([Buffer.alloc(4 * 1024 * 1024, 7)]));
for (let i = 0; i < Number(count); i++) {
  const d = await store.putJson({ prefix, i }, MediaType.manifest);
  await store.tag(`${prefix}:${i}`, d);
  if (i % 2 === 1) await store.untag(`${prefix}:${i - 1}`);
  await store.tag('shared:latest', d);
}
