/**
 * Which content objects go into which layer of an ostree-native container. Objects are grouped
 * by the Debian package that ships them (dpkg's file lists, moved to usr/lib/sysimage/dpkg by
 * prepareTree), so an image rebuilt with one package upgraded changes only the layer holding that
 * package (plus layer 0, which has the commit). Objects no package owns (generated files: the
 * initramfs, ld.so.cache, ib's tmpfiles) stay in layer 0, as ostree-ext does with its remainder.
 *
 * Packing: without a previous build, the biggest packages get a layer each and the rest are
 * spread over a quarter of the layers by a hash of their name, so a package's layer does not
 * depend on the other packages' sizes. With the previous build's layers (their
 * `ostree.components` annotations), every package stays where it was (rpm-ostree's rule).
 */
import { createHash } from 'node:crypto';
import { text } from 'node:stream/consumers';
import type { Manifest } from '../oci/index.js';
import type { OstreeRepo } from './repo.js';
import type { CommitWalk } from './walk.js';

export const COMPONENTS_ANNOTATION = 'ostree.components';
export const DPKG_INFO = 'usr/lib/sysimage/dpkg/info/';

export interface Component {
  name: string;
  size: number;
  /** Content checksums, sorted. */
  objects: string[];
}

const MERGED_USR = new Set(['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']);

/** A path from a dpkg .list file → the commit path it has in a prepared tree. */
export function commitPathOf(listed: string): string | undefined {
  if (!listed.startsWith('/') || listed === '/.') return undefined;
  const rel = listed.slice(1);
  const top = rel.split('/', 1)[0]!;
  return MERGED_USR.has(top) || top === 'etc' ? `usr/${rel}` : rel;
}

/** Packages and the content objects they own; an object shipped by several goes to the first by name. */
export async function dpkgComponents(repo: OstreeRepo, walk: CommitWalk, sizeOf: (checksum: string) => number): Promise<Component[]> {
  const lists = [...walk.byPath.keys()].filter((p) => p.startsWith(DPKG_INFO) && p.endsWith('.list')).sort();
  const byName = new Map<string, Set<string>>();
  const owner = new Map<string, string>();
  for (const list of lists) {
    const name = list.slice(DPKG_INFO.length, -'.list'.length).replace(/:.*$/, '');
    const objs = byName.get(name) ?? new Set<string>();
    byName.set(name, objs);
    const body = await text(await repo.openContent(walk.byPath.get(list)!));
    for (const line of body.split('\n')) {
      const p = commitPathOf(line);
      const c = p === undefined ? undefined : walk.byPath.get(p);
      if (c !== undefined && !owner.has(c)) {
        owner.set(c, name);
        objs.add(c);
      }
    }
  }
  return [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, objs]) => {
      const objects = [...objs].sort();
      return { name, objects, size: objects.reduce((s, c) => s + sizeOf(c), 0) };
    });
}

/** The package lists of a previous build's chunk layers, in layer order. */
export function priorBins(manifest: Manifest | undefined): string[][] | undefined {
  if (!manifest) return undefined;
  const bins = manifest.layers.map((l) => l.annotations?.[COMPONENTS_ANNOTATION]).filter((a) => a !== undefined);
  return bins.length ? bins.map((a) => a.split(',').filter(Boolean)) : undefined;
}

function nameHash(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0);
}

/** Group components into at most `maxChunks` bins of component names, in layer order. */
export function packChunks(components: readonly Component[], maxChunks: number, prior?: string[][]): string[][] {
  const comps = components.filter((c) => c.objects.length > 0);
  if (maxChunks <= 0 || comps.length === 0) return [];
  const size = new Map(comps.map((c) => [c.name, c.size]));
  const binSize = (b: string[]) => b.reduce((s, n) => s + (size.get(n) ?? 0), 0);
  const smallest = (bins: string[][], upTo = bins.length) => {
    let best = 0;
    for (let i = 1; i < upTo; i++) if (binSize(bins[i]!) < binSize(bins[best]!)) best = i;
    return best;
  };
  if (prior && prior.length > 0) {
    const bins = prior.map((b) => b.filter((n) => size.has(n)));
    while (bins.length > maxChunks) {
      const extra = bins.pop()!;
      bins[smallest(bins)]!.push(...extra);
    }
    const placed = new Set(bins.flat());
    const added = comps.map((c) => c.name).filter((n) => !placed.has(n));
    if (added.length > 0) {
      if (bins.length < maxChunks) bins.push(added);
      else bins[smallest(bins)]!.push(...added);
    }
    return bins.filter((b) => b.length > 0);
  }
  const sorted = [...comps].sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (sorted.length <= maxChunks) return sorted.map((c) => [c.name]);
  const groups = Math.max(1, Math.floor(maxChunks / 4));
  const singles = maxChunks - groups;
  const bins = sorted.slice(0, singles).map((c) => [c.name]);
  const grouped: string[][] = Array.from({ length: groups }, () => []);
  for (const c of sorted.slice(singles)) grouped[nameHash(c.name) % groups]!.push(c.name);
  return [...bins, ...grouped.map((g) => g.sort()).filter((g) => g.length > 0)];
}

/** ostree-ext's layer descriptions: the package, "a and b", or "N components". */
export function chunkName(packages: readonly string[]): string {
  if (packages.length === 0) return 'Reserved for new packages';
  if (packages.length <= 5) return packages.join(' and ');
  return `${packages.length} components`;
}
