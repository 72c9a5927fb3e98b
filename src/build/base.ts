/**
 * The base of a derived recipe: an image found in the local store or pulled from a registry.
 * Base layers are never re-uploaded or re-made: the derived manifest lists them by digest.
 */
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IbError, UsageError } from '../errors.js';
import type { Store } from '../oci/index.js';
import { ImageConfig, Manifest, isIndexMediaType, Index, hostPlatform } from '../oci/types.js';
import { formatRef, parseRef } from '../registry/reference.js';
import type { MirrorSuite } from '../recipe/plan.js';

export interface BaseImage {
  /** The reference as the user wrote it, and canonical. */
  ref: string;
  manifestDigest: string;
  manifest: Manifest;
  config: ImageConfig;
  layers: { digest: string; diffId: string; size: number; mediaType: string }[];
}

export function storeName(name: string, tag?: string, digest?: string): string {
  return digest && !tag ? `${name}@${digest}` : `${name}:${tag ?? 'latest'}`;
}

async function readImage(store: Store, digest: string): Promise<{ digest: string; manifest: Manifest }> {
  let mt: string | undefined;
  const raw = await store.readJson(digest, Index.or(Manifest));
  mt = (raw as { mediaType?: string }).mediaType;
  if (isIndexMediaType(mt) || 'manifests' in raw) {
    const p = hostPlatform();
    const m = (raw as Index).manifests.find((d) => d.platform?.architecture === p.architecture && d.platform?.os === p.os) ?? (raw as Index).manifests[0];
    if (!m) throw new IbError(`image index ${digest} lists no manifests`);
    return readImage(store, m.digest);
  }
  return { digest, manifest: raw as Manifest };
}

/** Find (or pull) the base image and read its manifest and config. */
export async function resolveBase(store: Store, input: string, opts: { tlsVerify?: boolean; authfile?: string } = {}): Promise<BaseImage> {
  const ref = parseRef(input);
  let digest: string;
  if (ref.transport === 'store') {
    const name = storeName(ref.name, ref.tag, ref.digest);
    const d = ref.digest && !ref.tag ? { digest: ref.digest } : await store.resolve(name);
    if (!d || !(await store.hasBlob(d.digest))) {
      throw new UsageError(`image "${name}" is not in the local store`, {
        hint: 'ib images lists the local store; for a registry image write HOST/REPO:TAG (e.g. localhost:5000/acme/base:1)',
      });
    }
    digest = d.digest;
  } else if (ref.transport === 'docker') {
    const { pullImage } = await import('../registry/index.js');
    const pulled = await pullImage(store, ref, { tlsVerify: opts.tlsVerify, authfile: opts.authfile });
    digest = pulled.descriptor.digest;
  } else {
    throw new UsageError(`${formatRef(ref)}: derive from ${ref.transport}: is not supported yet`, { hint: 'ib copy it into the local store first, then derive from the store name' });
  }
  const { digest: md, manifest } = await readImage(store, digest);
  const config = await store.readJson(manifest.config.digest, ImageConfig);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new IbError(`image ${input}: config lists ${config.rootfs.diff_ids.length} diff IDs for ${manifest.layers.length} layers`);
  }
  const layers = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.rootfs.diff_ids[i]! }));
  return { ref: formatRef(ref), manifestDigest: md, manifest, config, layers };
}

/**
 * Read a file of the merged tree straight from a stack of layer dirs (topmost first) without
 * mounting: stops at a whiteout or an opaque parent, as overlayfs would.
 */
export function readFromLayers(dirs: string[], path: string): string | undefined {
  const parts = path.replace(/^\/+/, '').split('/');
  for (const d of dirs) {
    // A whiteout of the file or any parent in this layer hides everything below, and so does a
    // parent that is not a directory. A symlinked parent is never followed: a layer whose
    // var/lib/dpkg links to /var/lib/dpkg made ib read the *build host's* package list into the
    // image config.
    let hidden = false;
    for (let i = 1; i <= parts.length; i++) {
      const st = lstatSync(join(d, ...parts.slice(0, i)), { throwIfNoEntry: false });
      if (!st) break;
      if ((st.isCharacterDevice() && st.rdev === 0) || (i < parts.length && !st.isDirectory())) { hidden = true; break; }
      if (i === parts.length && st.isFile()) return readFileSync(join(d, ...parts), 'utf8');
    }
    if (hidden) return undefined;
  }
  return undefined;
}

/** Does a path exist in the merged tree of a layer stack (topmost first)? Whiteouts hide it. */
export function existsInLayers(dirs: string[], path: string): boolean {
  const parts = path.replace(/^\/+/, '').split('/');
  for (const d of dirs) {
    for (let i = 1; i <= parts.length; i++) {
      const st = lstatSync(join(d, ...parts.slice(0, i)), { throwIfNoEntry: false });
      if (!st) break;
      // A link or file as a parent is not followed (it could lead to the build host's files).
      if ((st.isCharacterDevice() && st.rdev === 0) || (i < parts.length && !st.isDirectory())) return false;
      if (i === parts.length) return true;
    }
  }
  return false;
}

/** The apt sources of a tree (deb822 and one-line), to hash their mirrors' state. */
export function aptSourcesOf(dirs: string[]): MirrorSuite[] {
  const texts: string[] = [];
  const main = readFromLayers(dirs, 'etc/apt/sources.list');
  if (main) texts.push(main);
  const names = new Set<string>();
  for (const d of dirs) {
    const p = join(d, 'etc/apt/sources.list.d');
    if (existsSync(p) && lstatSync(p).isDirectory()) for (const n of readdirSync(p)) names.add(n);
  }
  for (const n of [...names].sort()) {
    const t = readFromLayers(dirs, `etc/apt/sources.list.d/${n}`);
    if (t) texts.push(t);
  }
  const out: MirrorSuite[] = [];
  for (const t of texts) {
    for (const m of t.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/gm)) out.push({ uri: m[1]!.replace(/\/+$/, ''), suite: m[2]! });
    for (const para of t.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(.+)$/m.exec(para)?.[1]?.trim().split(/\s+/) ?? [];
      const suites = /^Suites:\s*(.+)$/m.exec(para)?.[1]?.trim().split(/\s+/) ?? [];
      if (/^Enabled:\s*no/im.test(para)) continue;
      for (const u of uris) for (const s of suites) out.push({ uri: u.replace(/\/+$/, ''), suite: s });
    }
  }
  const seen = new Set<string>();
  return out.filter((m) => (seen.has(`${m.uri} ${m.suite}`) ? false : (seen.add(`${m.uri} ${m.suite}`), true)));
}
