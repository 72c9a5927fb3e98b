/** Assemble the OCI config and manifest of a built image and write them to the store. */
import { MediaType, type Descriptor, type History, type ImageConfig, type Manifest } from '../oci/types.js';
import type { Store } from '../oci/index.js';

export interface ImageLayer {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface AssembleOptions {
  architecture: string;
  sourceDateEpoch: number;
  layers: ImageLayer[];
  history: History[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Config of the base image when deriving; its Env/Cmd/Labels carry over. */
  baseConfig?: ImageConfig;
  /** `name=version` of every installed package, stored in the config for `ib diff`. */
  packages?: string[];
}

/** Config field holding the installed-package list (unknown fields are allowed by the spec). */
export const PACKAGES_FIELD = 'dev.ib.packages';

export async function assembleImage(store: Store, o: AssembleOptions): Promise<{ manifest: Descriptor; config: Descriptor }> {
  const created = new Date(o.sourceDateEpoch * 1000).toISOString();
  const baseCfg = o.baseConfig?.config ?? {};
  const config: ImageConfig = {
    created,
    architecture: o.architecture,
    os: 'linux',
    config: {
      ...baseCfg,
      Env: baseCfg.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: baseCfg.Cmd ?? ['/bin/bash'],
      Labels: { ...(baseCfg.Labels ?? {}), ...o.labels },
    },
    rootfs: { type: 'layers', diff_ids: o.layers.map((l) => l.diffId) },
    history: o.history,
    ...(o.packages ? { [PACKAGES_FIELD]: o.packages } : {}),
  };
  const configDesc = await store.putJson(config, MediaType.config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.manifest,
    config: { mediaType: MediaType.config, digest: configDesc.digest, size: configDesc.size },
    layers: o.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    annotations: { 'org.opencontainers.image.created': created, ...o.annotations },
  };
  const manifestDesc = await store.putJson(manifest, MediaType.manifest);
  return { manifest: { mediaType: MediaType.manifest, digest: manifestDesc.digest, size: manifestDesc.size }, config: configDesc };
}
