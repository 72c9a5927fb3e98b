/**
 * An image made of another image of the store plus one layer written by ib's own `writeLayer`
 * from a directory the test fills (symlinks, device nodes, setuid files: whatever a hostile or
 * unusual base carries).
 */
import { writeLayer } from '../../src/oci/layer-writer.js';
import type { Store } from '../../src/oci/store.js';
import { ImageConfig, Manifest, MediaType } from '../../src/oci/types.js';

export async function stackImage(store: Store, baseTag: string, layerDir: string, tag: string): Promise<string> {
  const desc = await store.resolve(baseTag);
  if (!desc) throw new Error(`${baseTag} is not in ${store.root}`);
  const manifest = await store.readJson(desc.digest, Manifest);
  const config = await store.readJson(manifest.config.digest, ImageConfig);
  const layer = await writeLayer(layerDir, store, { sourceDateEpoch: 1700000000 });
  const cfg = await store.putJson({
    ...config,
    rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] },
    history: [...(config.history ?? []), { created: config.created, created_by: `test layer ${tag}` }],
  }, MediaType.config);
  const m = await store.putJson({
    schemaVersion: 2, mediaType: MediaType.manifest, config: cfg,
    layers: [...manifest.layers, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
  }, MediaType.manifest);
  await store.tag(tag, m);
  return m.digest;
}
