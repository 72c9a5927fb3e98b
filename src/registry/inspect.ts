/** `ib inspect docker://…`: a remote image's manifest and config, without pulling its layers. */
import { IbError, wrap } from '../errors.js';
import { sha256, ImageConfig, Index, isIndexMediaType, type Descriptor, type Manifest } from '../oci/index.js';
import { RepoClient } from './client.js';
import { RegistryError } from './errors.js';
import { fetchImageManifest, type PullTuning } from './pull.js';
import { formatRef, type ImageRef } from './reference.js';
import { dockerRef, withSession, type RegistryOptions } from './transfer.js';

export interface RemoteImage {
  /** `docker://host/repo:tag` */
  name: string;
  /** Digest of what the reference points at (the index, for a multi-platform image). */
  digest: string;
  mediaType: string;
  /** The exact bytes the registry serves for the reference (`ib inspect --raw`). */
  raw: Buffer;
  index?: Index;
  /** The chosen image's manifest and its digest. */
  manifest: Manifest;
  manifestDigest: string;
  config: ImageConfig;
  configRaw: Buffer;
  /** The JSON `ib inspect` prints: the same shape as for an image of the local store. */
  toJSON(): InspectJson;
}

export interface InspectJson {
  name: string;
  digest: string;
  manifestDigest: string;
  mediaType: string;
  created?: string;
  architecture: string;
  os: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  layers: { digest: string; diffId?: string; size: number; mediaType: string; createdBy?: string }[];
  size: number;
}

function inspectJson(r: Omit<RemoteImage, 'toJSON'>): InspectJson {
  const history = r.config.history?.filter((h) => !h.empty_layer) ?? [];
  return {
    name: r.name, digest: r.digest, manifestDigest: r.manifestDigest, mediaType: r.mediaType,
    created: r.config.created, architecture: r.config.architecture, os: r.config.os,
    labels: r.config.config?.Labels ?? {}, annotations: r.manifest.annotations ?? {},
    layers: r.manifest.layers.map((l, i) => ({
      digest: l.digest, diffId: r.config.rootfs.diff_ids[i], size: l.size, mediaType: l.mediaType, createdBy: history[i]?.created_by,
    })),
    size: r.manifest.layers.reduce((a, l) => a + l.size, 0),
  };
}

/** Read a remote image's manifest and config without pulling its layers. */
export async function inspectRemote(ref: string | ImageRef, opts: RegistryOptions & PullTuning = {}): Promise<RemoteImage> {
  const r = dockerRef(ref);
  return withSession(opts, async (s) => {
    const client = new RepoClient(s.connection(r.registry), r.repository);
    const top = await client.getManifest(r.digest ?? r.tag ?? 'latest');
    const { remote, manifest } = await fetchImageManifest(client, { ...r, digest: top.digest, tag: undefined }, opts.platform);
    const configRaw = await readSmallBlob(client, manifest.config);
    const config = ImageConfig.safeParse(JSON.parse(configRaw.toString('utf8')));
    if (!config.success) {
      throw new RegistryError({ method: 'GET', url: formatRef(r), code: 'MANIFEST_INVALID', message: `config ${manifest.config.digest}: ${config.error.issues[0]?.message ?? 'invalid'}` });
    }
    const index = isIndexMediaType(top.mediaType) ? Index.parse(JSON.parse(top.bytes.toString('utf8'))) : undefined;
    const out = {
      name: formatRef(r), digest: top.digest, mediaType: top.mediaType, raw: top.bytes, index,
      manifest, manifestDigest: remote.digest, config: config.data, configRaw,
    };
    return { ...out, toJSON: () => inspectJson(out) };
  }).catch((e: unknown) => {
    throw wrap(`inspecting ${formatRef(r)}`, e);
  });
}

async function readSmallBlob(client: RepoClient, d: Descriptor): Promise<Buffer> {
  if (d.size > 16 * 1024 * 1024) throw new IbError(`config blob ${d.digest} is ${d.size} bytes; refusing to read it into memory`);
  const { body } = await client.getBlob(d.digest);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  if (buf.length !== d.size || sha256(buf) !== d.digest) {
    throw new RegistryError({ method: 'GET', url: `blob ${d.digest}`, code: 'DIGEST_INVALID', message: `got ${buf.length} bytes hashing to ${sha256(buf)}` });
  }
  return buf;
}
