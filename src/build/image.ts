/** The OCI config and manifest of a built image: defaults for a bootable OS image over writeImage. */
import { writeImage, type Descriptor, type History, type ImageConfig, type Store } from '../oci/index.js';

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
  const baseCfg = o.baseConfig?.config ?? {};
  return writeImage(store, {
    layers: o.layers.map((l) => ({ descriptor: { mediaType: l.mediaType, digest: l.digest, size: l.size }, diffId: l.diffId })),
    history: o.history,
    labels: { ...(baseCfg.Labels ?? {}), ...o.labels },
    annotations: { 'org.opencontainers.image.created': new Date(o.sourceDateEpoch * 1000).toISOString(), ...o.annotations },
    platform: { architecture: o.architecture, os: 'linux' },
    created: o.sourceDateEpoch,
    config: {
      ...baseCfg,
      Env: baseCfg.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: baseCfg.Cmd ?? ['/bin/bash'],
    },
    extra: o.packages ? { [PACKAGES_FIELD]: o.packages } : undefined,
  });
}
