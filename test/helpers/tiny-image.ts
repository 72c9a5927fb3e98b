/**
 * Small real images for registry tests, made with the oci module in a store: each layer is a
 * directory of files turned into a gzip layer by `writeLayer`, plus a config and a manifest.
 * File contents are derived from names (no randomness), so the same call makes the same digests.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeLayer } from '../../src/oci/layer-writer.js';
import type { Store } from '../../src/oci/store.js';
import { MediaType, type Descriptor, type Manifest } from '../../src/oci/types.js';

/** Deterministic incompressible bytes: a sha256 chain from `seed`. */
export function seededBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i, 0, Math.min(32, n - i));
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** path → content; a number means that many seeded incompressible bytes. */
export type LayerSpec = Record<string, string | number>;

export interface TinyImage {
  digest: string;
  descriptor: Descriptor;
  manifest: Manifest;
}

export async function makeImage(store: Store, layers: LayerSpec[], opts: { tag?: string; label?: string } = {}): Promise<TinyImage> {
  const work = await mkdtemp(join(tmpdir(), 'ib-tiny-'));
  try {
    const blobs = [];
    for (const [i, spec] of layers.entries()) {
      const dir = join(work, `layer${i}`);
      await mkdir(dir);
      for (const [path, content] of Object.entries(spec)) {
        const file = join(dir, path);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, typeof content === 'number' ? seededBytes(content, path) : content);
      }
      blobs.push(await writeLayer(dir, store, { sourceDateEpoch: 1700000000 }));
    }
    const config = await store.putJson({
      architecture: 'amd64', os: 'linux', created: '2023-11-14T22:13:20Z',
      config: { Labels: { 'org.example.test': opts.label ?? 'tiny' } },
      rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.diffId) },
      history: blobs.map((_, i) => ({ created: '2023-11-14T22:13:20Z', created_by: `layer ${i}` })),
    }, MediaType.config);
    const manifest: Manifest = {
      schemaVersion: 2, mediaType: MediaType.manifest, config,
      layers: blobs.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })),
    };
    const descriptor = await store.putJson(manifest, MediaType.manifest);
    if (opts.tag) await store.tag(opts.tag, descriptor);
    return { digest: descriptor.digest, descriptor, manifest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
