/** `ib diff A B`: what B changes relative to A — packages and files. */
import { existsSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageConfig, Manifest } from '../oci/types.js';
import { PACKAGES_FIELD } from './image.js';
import { layerDir, type CachePaths } from './cache.js';

export interface ImageDiff {
  packages: { added: string[]; removed: string[]; changed: { name: string; from: string; to: string }[] };
  /** Paths in B's own layers (those A doesn't have), with + (added/changed) or - (deleted). */
  files: string[];
  layersOnlyInB: string[];
}

function pkgMap(c: ImageConfig): Map<string, string> {
  const list = ((c as Record<string, unknown>)[PACKAGES_FIELD] as string[] | undefined) ?? [];
  return new Map(list.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));
}

async function walk(dir: string, rel: string, out: string[]): Promise<void> {
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(dir, p));
    if (st.isCharacterDevice() && st.rdev === 0) out.push(`- /${p}`);
    else if (st.isDirectory()) await walk(dir, p, out);
    else out.push(`+ /${p}`);
  }
}

export async function diffImages(paths: CachePaths, a: { manifest: Manifest; config: ImageConfig }, b: { manifest: Manifest; config: ImageConfig }): Promise<ImageDiff> {
  const pa = pkgMap(a.config);
  const pb = pkgMap(b.config);
  const added = [...pb.keys()].filter((k) => !pa.has(k)).sort().map((k) => `${k}=${pb.get(k)}`);
  const removed = [...pa.keys()].filter((k) => !pb.has(k)).sort().map((k) => `${k}=${pa.get(k)}`);
  const changed = [...pb.keys()].filter((k) => pa.has(k) && pa.get(k) !== pb.get(k)).sort().map((k) => ({ name: k, from: pa.get(k)!, to: pb.get(k)! }));
  const aIds = new Set(a.config.rootfs.diff_ids);
  const only = b.config.rootfs.diff_ids.filter((d) => !aIds.has(d));
  const files: string[] = [];
  for (const d of only) {
    const dir = layerDir(paths, d);
    if (existsSync(dir)) await walk(dir, '', files);
  }
  return { packages: { added, removed, changed }, files, layersOnlyInB: only };
}
