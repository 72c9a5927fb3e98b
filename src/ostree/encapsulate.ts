/**
 * An ostree commit → an ostree-native ("bootable") container image in the local store, the
 * ostree-ext tar format v1 that bootc and rpm-ostree pull (containers/bootc
 * ostree-ext/src/container/encapsulate.rs): layer 0 (the commit, all directory metadata, and
 * the files no package owns) first, then one layer per package group, labels and annotations
 * that say what the image is. The same commit gives the same manifest digest.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { IbError, wrap } from '../errors.js';
import { emit } from '../log.js';
import {
  COMPRESSED_MEDIA_TYPE, HashingStream, tarStream, writeImage,
  type Compression, type Descriptor, type History, type ImageLayerInput, type Manifest, type Platform, type Store, type TarWriteEntry,
} from '../oci/index.js';
import { compressor } from '../oci/compression.js';
import { chunkName, COMPONENTS_ANNOTATION, dpkgComponents, packChunks, priorBins } from './chunking.js';
import { LayerExporter, repoSkeleton } from './export-tar.js';
import { metaBool, metaString, OstreeRepo, type FileObject } from './repo.js';
import { walkCommit } from './walk.js';

export const LABELS = {
  commit: 'ostree.commit',
  bootable: 'ostree.bootable',
  bootc: 'containers.bootc',
  linux: 'ostree.linux',
  version: 'org.opencontainers.image.version',
  finalDiffId: 'ostree.final-diffid',
} as const;

/** Half of the 128 layers some registries and overlayfs allow (ostree-ext's MAX_CHUNKS). */
export const DEFAULT_MAX_LAYERS = 64;

export interface EncapsulateOptions {
  repo: string;
  /** Ref or commit checksum. */
  ref: string;
  store: Store;
  /** Store name to tag the image with. */
  tag?: string;
  /** All layers, layer 0 included (default 64). */
  maxLayers?: number;
  /** Extra labels, also written as manifest annotations. */
  labels?: Record<string, string>;
  /** The previously published image's manifest: packages keep their layers. */
  previous?: Manifest;
  compression?: Compression;
  platform?: Platform;
}

export interface EncapsulatedLayer {
  digest: string;
  diffId: string;
  size: number;
  packages: string[];
  objects: number;
}

export interface EncapsulatedImage {
  commit: string;
  manifest: Descriptor;
  config: Descriptor;
  layers: EncapsulatedLayer[];
}

/** Tar entries → a compressed blob in the store; returns the manifest descriptor and diffID. */
async function writeEntries(entries: TarWriteEntry[], store: Store, compression: Compression): Promise<ImageLayerInput & { tarSize: number }> {
  const diff = new HashingStream();
  const blob = new HashingStream();
  const codec = compressor(compression);
  const tmp = store.ingestPath();
  try {
    await Promise.all([pipeline(tarStream(entries), diff, codec.stream, blob, createWriteStream(tmp, { flags: 'wx', mode: 0o644 })), codec.done]);
    const digest = blob.digest();
    await store.commitBlob(tmp, digest);
    return { descriptor: { mediaType: COMPRESSED_MEDIA_TYPE[compression], digest, size: blob.bytes }, diffId: diff.digest(), tarSize: diff.bytes };
  } catch (e) {
    throw store.writeFailed(e, 'a layer');
  } finally {
    await rm(tmp, { force: true });
  }
}

export async function encapsulate(o: EncapsulateOptions): Promise<EncapsulatedImage> {
  const maxLayers = o.maxLayers ?? DEFAULT_MAX_LAYERS;
  if (!Number.isInteger(maxLayers) || maxLayers < 1) {
    throw new IbError(`--max-layers must be a whole number of at least 1, not ${maxLayers}`, { hint: 'layer 0 holds the commit; 64 is the default' });
  }
  const compression = o.compression ?? 'gzip';
  const repo = await OstreeRepo.open(o.repo);
  const checksum = await repo.resolveRev(o.ref);
  try {
    const walk = await walkCommit(repo, checksum);
    const objects = new Map<string, FileObject>();
    for (const c of walk.files.keys()) objects.set(c, await repo.loadFile(c));
    const components = await dpkgComponents(repo, walk, (c) => objects.get(c)!.size);
    const bins = packChunks(components, maxLayers - 1, priorBins(o.previous));
    const byName = new Map(components.map((c) => [c.name, c]));
    const inChunk = new Set<string>();
    const chunks = bins.map((packages) => {
      const objs = packages.flatMap((p) => byName.get(p)?.objects ?? []).sort();
      for (const c of objs) inChunk.add(c);
      return { packages: [...packages].sort(), objects: objs };
    });
    const remainder = [...walk.files.keys()].filter((c) => !inChunk.has(c)).sort();

    const layer0 = new LayerExporter(repo, objects);
    const entries0 = await layer0.structure(walk);
    for (const c of remainder) entries0.push(...layer0.content(c, walk.files.get(c)!));
    const written: { input: ImageLayerInput; packages: string[]; objects: number }[] = [];
    written.push({ input: await writeEntries(entries0, o.store, compression), packages: [], objects: remainder.length });
    for (const [i, ch] of chunks.entries()) {
      emit({ event: 'progress', what: 'ostree chunks', done: i, total: chunks.length });
      const ex = new LayerExporter(repo, objects);
      const entries = repoSkeleton();
      for (const c of ch.objects) entries.push(...ex.content(c, walk.files.get(c)!));
      const input = await writeEntries(entries, o.store, compression);
      input.descriptor = { ...input.descriptor, annotations: { [COMPONENTS_ANNOTATION]: ch.packages.join(',') } };
      written.push({ input, packages: ch.packages, objects: ch.objects.length });
    }

    const c = walk.commit;
    const labels: Record<string, string> = {};
    const bootable = metaBool(c, 'ostree.bootable');
    if (bootable !== undefined) {
      labels[LABELS.bootable] = String(bootable);
      labels[LABELS.bootc] = '1';
    }
    const linux = metaString(c, 'ostree.linux');
    if (linux) labels[LABELS.linux] = linux;
    const version = metaString(c, 'version');
    if (version) labels[LABELS.version] = version;
    labels[LABELS.commit] = checksum;
    Object.assign(labels, o.labels ?? {});
    labels[LABELS.finalDiffId] = written[written.length - 1]!.input.diffId;

    const history: History[] = [
      { created_by: c.subject || `ostree export of commit ${checksum}` },
      ...chunks.map((ch) => ({ created_by: chunkName(ch.packages) })),
    ];
    const img = await writeImage(o.store, {
      layers: written.map((w) => w.input),
      history,
      labels,
      annotations: labels,
      created: c.timestamp,
      platform: o.platform,
    });
    if (o.tag) await o.store.tag(o.tag, img.manifest);
    return {
      commit: checksum,
      manifest: img.manifest,
      config: img.config,
      layers: written.map((w) => ({ digest: w.input.descriptor.digest, diffId: w.input.diffId, size: w.input.descriptor.size, packages: w.packages, objects: w.objects })),
    };
  } catch (e) {
    throw wrap(`encapsulating ostree commit ${checksum} of ${o.repo}`, e);
  }
}

