/**
 * Media are made from images: resolve any reference (local store or registry), unpack its layers
 * (cached), flatten them into a private tree that the disk, ostree and ISO parts read, and remove
 * the tree afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cachePaths, layerDirs, resolveBase, type BaseImage, type CachePaths } from '../build/index.js';
import { readFromLayers } from '../build/base.js';
import { phase } from '../log.js';
import { hostPlatform, Store } from '../oci/index.js';
import { IbError } from '../errors.js';
import { flattenLayers } from '../tree/index.js';

export interface ImageTree {
  image: BaseImage;
  tree: string;
  paths: CachePaths;
  store: Store;
  /** Kernel arguments the image asks for (/etc/kernel/cmdline). */
  kargs: string[];
  sourceDateEpoch: number;
}

export interface ImageTreeOptions {
  store?: string;
  tlsVerify?: boolean;
  authfile?: string;
}

export async function withImageTree<T>(ref: string, o: ImageTreeOptions, fn: (t: ImageTree) => Promise<T>): Promise<T> {
  const paths = cachePaths(undefined, o.store);
  const store = await Store.open(paths.store);
  const image = await resolveBase(store, ref, o);
  const host = hostPlatform();
  if (image.config.architecture !== host.architecture || image.config.os !== host.os) {
    throw new IbError(`${ref} is an image for ${image.config.os}/${image.config.architecture}; ib makes bootable media for ${host.os}/${host.architecture} only`, {
      hint: 'build or pull the image for this architecture (--platform on ib pull)',
    });
  }
  const dirs = await phase('unpacking layers', () => layerDirs(paths, store, image.layers));
  const cmdline = readFromLayers([...dirs].reverse(), 'etc/kernel/cmdline') ?? '';
  const work = await mkdtemp(join(paths.tmp, `image-tree-${process.pid}-`));
  try {
    const tree = join(work, 'tree');
    await phase('flattening layers', () => flattenLayers([...dirs].reverse(), tree, paths.tmp));
    const created = image.config.created ? Math.floor(Date.parse(image.config.created) / 1000) : 0;
    const envSde = Number(process.env.SOURCE_DATE_EPOCH);
    return await fn({
      image, tree, paths, store,
      kargs: cmdline.split(/\s+/).filter(Boolean),
      sourceDateEpoch: Number.isInteger(envSde) && envSde >= 0 && process.env.SOURCE_DATE_EPOCH ? envSde : created,
    });
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}
