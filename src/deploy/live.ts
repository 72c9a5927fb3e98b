/**
 * A live ISO needs Debian's live-boot in the image's initramfs. When the image lacks it, ib adds
 * it as a derived layer (cached like any build step) — the user's image is never modified.
 */
import { cachePaths, layerDirs, resolveBase, buildLoaded } from '../build/index.js';
import { existsInLayers } from '../build/base.js';
import { emit } from '../log.js';
import { Store } from '../oci/index.js';
import { inlineRecipe } from '../recipe/load.js';
import type { ImageTreeOptions } from './image-tree.js';

const LIVE_MARKERS = ['usr/share/initramfs-tools/scripts/live', 'usr/lib/live/boot', 'lib/live/boot'];

/** The reference to make the ISO from: the image itself, or a cached derivative with live-boot. */
export async function withLiveBoot(ref: string, o: ImageTreeOptions): Promise<string> {
  const paths = cachePaths(undefined, o.store);
  const store = await Store.open(paths.store);
  const image = await resolveBase(store, ref, o);
  const dirs = (await layerDirs(paths, store, image.layers)).reverse();
  if (LIVE_MARKERS.some((m) => existsInLayers(dirs, m))) return ref;
  emit({ event: 'info', message: `${ref} has no live-boot: adding it as a derived layer (the image itself is unchanged)` });
  const tag = `ib-live/${image.manifestDigest.slice(7, 19)}:latest`;
  const loaded = await inlineRecipe({ name: 'ib-live', from: ref, packages: { install: ['live-boot'] } }, process.cwd(), 'live-boot');
  const res = await buildLoaded(loaded, { tag, store: o.store, tlsVerify: o.tlsVerify, authfile: o.authfile });
  return res.tag;
}
