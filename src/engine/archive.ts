/**
 * docker-archive ↔ the store. dockerd 20.10 loads and saves only this format: a tar with
 * `manifest.json` (`[{Config, RepoTags, Layers}]`), the config as `<id>.json` and each layer as
 * a tar file. Going in, layers are written as stored (docker decompresses gzip itself), so
 * nothing is recompressed. Coming out, each file is spooled into the store's ingest area while
 * hashed, because `manifest.json` comes last and says which files matter; only those are kept.
 * Layers stay as docker gives them (uncompressed: their digest is their diff ID).
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { IbError } from '../errors.js';
import {
  HashingStream, ImageConfig, Index, Manifest, MediaType, hostPlatform, isIndexMediaType, readTar, tarStream,
  type Descriptor, type Store, type TarWriteEntry,
} from '../oci/index.js';

const ArchiveManifest = z.array(z.object({
  Config: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string()),
}).passthrough()).min(1);

function fileEntry(name: string, size: number, body: () => AsyncIterable<Buffer>): TarWriteEntry {
  return { header: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0 }, body };
}

async function readImageManifest(store: Store, digest: string): Promise<Manifest> {
  const desc = (await store.readJson(digest, z.unknown())) as { mediaType?: string; manifests?: unknown };
  if (isIndexMediaType(desc.mediaType) || Array.isArray(desc.manifests)) {
    const index = await store.readJson(digest, Index);
    const host = hostPlatform();
    const pick = index.manifests.find((m) => m.platform?.os === host.os && m.platform.architecture === host.architecture) ?? (index.manifests.length === 1 ? index.manifests[0] : undefined);
    if (!pick) throw new IbError(`image index ${digest} has no ${host.os}/${host.architecture} image for the engine`);
    return store.readJson(pick.digest, Manifest);
  }
  return store.readJson(digest, Manifest);
}

/** A docker-archive tar of the image `manifestDigest`, named `repoTag` (e.g. `acme/base:1`). */
export async function archiveFromStore(store: Store, manifestDigest: string, repoTag: string): Promise<Readable> {
  const m = await readImageManifest(store, manifestDigest);
  const hex = (d: string) => d.slice('sha256:'.length);
  const configName = `${hex(m.config.digest)}.json`;
  const layerNames = m.layers.map((l) => `${hex(l.digest)}/layer.tar`);
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: layerNames }]));
  const open = (d: string) => () => store.openBlob(d) as AsyncIterable<Buffer>;
  const entries: TarWriteEntry[] = [fileEntry(configName, m.config.size, open(m.config.digest))];
  const seen = new Set<string>();
  for (const [i, l] of m.layers.entries()) {
    if (seen.has(l.digest)) continue;
    seen.add(l.digest);
    entries.push({ header: { name: hex(l.digest), type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } });
    entries.push(fileEntry(layerNames[i]!, l.size, open(l.digest)));
  }
  entries.push(fileEntry('manifest.json', manifest.length, async function* () {
    yield manifest;
  }));
  return tarStream(entries);
}

interface Spooled {
  tmp: string;
  digest: string;
  size: number;
  head: Buffer;
}

function layerMediaType(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return MediaType.layerGzip;
  if (head.readUInt32LE(0) === 0xfd2fb528) return MediaType.layerZstd;
  return MediaType.layerTar;
}

export interface ArchiveImage {
  descriptor: Descriptor;
  manifest: Manifest;
  repoTags: string[];
}

/** Read a docker-archive (or the newer OCI-style `docker save`) into the store. */
export async function archiveToStore(tar: AsyncIterable<Buffer>, store: Store): Promise<ArchiveImage> {
  const files = new Map<string, Spooled>();
  const links = new Map<string, string>();
  let manifestJson: Buffer | undefined;
  try {
    for await (const e of readTar(tar)) {
      const name = e.header.name.replace(/^\.\//, '');
      if (e.header.type === 'symlink' || e.header.type === 'link') {
        // `docker save` writes a repeated layer once and links the others to it.
        const target = e.header.type === 'symlink' ? posix.normalize(posix.join(posix.dirname(name), e.header.linkname ?? '')) : (e.header.linkname ?? '');
        links.set(name, target.replace(/^\.\//, ''));
        continue;
      }
      if (e.header.type !== 'file') continue;
      if (name === 'manifest.json') {
        const parts: Buffer[] = [];
        for await (const c of e.body) parts.push(c);
        manifestJson = Buffer.concat(parts);
        continue;
      }
      const tmp = store.ingestPath();
      const hash = new HashingStream();
      let head = Buffer.alloc(0);
      hash.on('data', (c: Buffer) => {
        if (head.length < 4) head = Buffer.concat([head, c.subarray(0, 4)]);
      });
      files.set(name, { tmp, digest: '', size: 0, head });
      await pipeline(Readable.from(e.body), hash, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      files.set(name, { tmp, digest: hash.digest(), size: hash.bytes, head: Buffer.concat([head, Buffer.alloc(4)]) });
    }
    if (!manifestJson) throw new IbError('the engine\'s image archive has no manifest.json');
    const parsed = ArchiveManifest.safeParse(JSON.parse(manifestJson.toString('utf8')));
    if (!parsed.success) throw new IbError(`the engine's image archive has an unexpected manifest.json: ${parsed.error.issues[0]?.message}`);
    const entry = parsed.data[0]!;
    const get = (n: string): Spooled => {
      const f = files.get(n) ?? files.get(links.get(n) ?? '');
      if (!f) throw new IbError(`the engine's image archive lacks ${n}, which its manifest.json names`);
      return f;
    };
    const cfg = get(entry.Config);
    await store.commitBlob(cfg.tmp, cfg.digest);
    const config = await store.readJson(cfg.digest, ImageConfig);
    const layers: Descriptor[] = [];
    for (const [i, n] of entry.Layers.entries()) {
      const f = get(n);
      const mediaType = layerMediaType(f.head);
      if (mediaType === MediaType.layerTar && config.rootfs.diff_ids[i] !== f.digest) {
        throw new IbError(`layer ${i} of the engine's image hashes to ${f.digest}, but its config says ${config.rootfs.diff_ids[i]}`);
      }
      if (!(await store.hasBlob(f.digest))) await store.commitBlob(f.tmp, f.digest);
      layers.push({ mediaType, digest: f.digest, size: f.size });
    }
    const manifest: Manifest = {
      schemaVersion: 2, mediaType: MediaType.manifest,
      config: { mediaType: MediaType.config, digest: cfg.digest, size: cfg.size }, layers,
    };
    const descriptor = await store.putJson(manifest, MediaType.manifest);
    return { descriptor, manifest, repoTags: entry.RepoTags ?? [] };
  } finally {
    for (const f of files.values()) await rm(f.tmp, { force: true });
  }
}
