/**
 * An image in the store: config + manifest written from layer descriptors and diffIDs, and read
 * back (through an image index when the name points at one) with every document zod-validated.
 */
import { IbError } from '../errors.js';
import type { Store } from './store.js';
import {
  Descriptor, ImageConfig, Index, Manifest, MediaType, hostPlatform, isIndexMediaType,
  type History, type Platform,
} from './types.js';

export interface ImageLayerInput {
  /** The compressed blob as the manifest lists it. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar, for the config's rootfs.diff_ids. */
  diffId: string;
}

export interface WriteImageOptions {
  layers: ImageLayerInput[];
  /** One entry per layer plus `empty_layer` entries; default: one `created_by: "ib"` per layer. */
  history?: History[];
  /** Config labels (`config.Labels`). */
  labels?: Record<string, string>;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  /** Default: the host's. */
  platform?: Platform;
  /** SOURCE_DATE_EPOCH in seconds: config `created` (omitted when not given). */
  created?: number;
  /** Extra runtime config (Env, Cmd, ...), merged under `labels`. */
  config?: NonNullable<ImageConfig['config']>;
  /** Extra top-level config fields (unknown fields are allowed by the spec). */
  extra?: Record<string, unknown>;
}

export interface StoredImage {
  /** The manifest's descriptor. */
  descriptor: Descriptor;
  manifest: Manifest;
  config: ImageConfig;
}

export async function writeImage(store: Store, o: WriteImageOptions): Promise<{ manifest: Descriptor; config: Descriptor }> {
  const history: History[] = o.history ?? o.layers.map(() => ({ created_by: 'ib' }));
  const nonEmpty = history.filter((h) => !h.empty_layer).length;
  if (nonEmpty !== o.layers.length) {
    // Docker refuses such images ("inconsistent history"), so never write one.
    throw new IbError(`image history has ${nonEmpty} non-empty entries for ${o.layers.length} layers`);
  }
  const platform = o.platform ?? hostPlatform();
  const created = o.created === undefined ? undefined : new Date(o.created * 1000).toISOString();
  const labels = { ...(o.config?.Labels ?? {}), ...(o.labels ?? {}) };
  const config: ImageConfig = {
    ...(o.extra ?? {}),
    ...(created ? { created } : {}),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { ...(o.config ?? {}), ...(Object.keys(labels).length ? { Labels: labels } : {}) },
    rootfs: { type: 'layers', diff_ids: o.layers.map((l) => l.diffId) },
    history: history.map((h) => (created && !h.created ? { created, ...h } : h)),
  };
  ImageConfig.parse(config);
  const configDesc = await store.putJson(config, MediaType.config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: configDesc,
    layers: o.layers.map((l) => l.descriptor),
    ...(o.annotations && Object.keys(o.annotations).length ? { annotations: o.annotations } : {}),
  };
  const manifestDesc = await store.putJson(Manifest.parse(manifest), MediaType.manifest);
  return { manifest: manifestDesc, config: configDesc };
}

function samePlatform(a: Platform | undefined, b: Platform): boolean {
  return !!a && a.os === b.os && a.architecture === b.architecture && (!b.variant || a.variant === b.variant);
}

/** Read an image by manifest (or index) descriptor or digest; an index is resolved for `platform`. */
export async function readImage(store: Store, desc: Descriptor | string, platform: Platform = hostPlatform()): Promise<StoredImage> {
  let d: Descriptor = typeof desc === 'string' ? { mediaType: MediaType.manifest, digest: desc, size: await store.blobSize(desc) } : desc;
  if (isIndexMediaType(d.mediaType)) {
    const index = await store.readJson(d.digest, Index);
    const hit = index.manifests.find((m) => samePlatform(m.platform, platform)) ?? (index.manifests.length === 1 ? index.manifests[0] : undefined);
    if (!hit) {
      const have = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : '?')).join(', ');
      throw new IbError(`image index ${d.digest} has no manifest for ${platform.os}/${platform.architecture} (it has ${have || 'none'})`, {
        hint: 'pick a platform the image provides',
      });
    }
    d = hit;
  }
  const manifest = await store.readJson(d.digest, Manifest);
  const config = await store.readJson(manifest.config.digest, ImageConfig);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new IbError(`image ${d.digest} lists ${manifest.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`, {
      hint: 'the image is corrupt; pull or rebuild it',
    });
  }
  return { descriptor: d, manifest, config };
}

/** Read the image a store name points at. */
export async function readImageByName(store: Store, name: string, platform?: Platform): Promise<StoredImage> {
  const d = await store.resolve(name);
  if (!d) throw new IbError(`image "${name}" is not in the local store`, { hint: 'ib images lists the local store' });
  return readImage(store, d, platform);
}

/** The layers of an image with their diffIDs, as extractLayer takes them. */
export function imageLayers(img: StoredImage): { digest: string; size: number; mediaType: string; diffId: string }[] {
  return img.manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: img.config.rootfs.diff_ids[i]! }));
}
