/**
 * The merged view of a stack of layer dirs, computed the way overlayfs computes it, without
 * mounting: a whiteout hides the name in every layer below, a non-directory hides directories
 * below it, an opaque directory hides the contents of the same directory below. Capture asks it
 * "what did this path look like before the step?"; scan-diff walks it as the old tree.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { run as defaultRun, type Run } from '../exec/run.js';
import { readXattrs, readXattrsTree, type Xattrs } from '../exec/xattr.js';
import { isWhiteout, OPAQUE } from './layer-entry.js';

export interface LowerEntry {
  host: string;
  st: Stats;
}

type Probe = { kind: 'found'; host: string; st: Stats } | { kind: 'absent'; stop: boolean } | { kind: 'hidden' };

export class LowerView {
  private readonly stats = new Map<string, Stats | null>();
  private readonly xattrs = new Map<string, Xattrs>();
  private readonly fullyLoaded = new Set<number>();

  /** `layers`: layer dirs, topmost first (overlayfs' lowerdir order). */
  constructor(readonly layers: readonly string[], private readonly run: Run = defaultRun) {}

  private lstat(host: string): Stats | undefined {
    let st = this.stats.get(host);
    if (st === undefined) {
      try {
        st = lstatSync(host);
      } catch {
        st = null;
      }
      this.stats.set(host, st);
    }
    return st ?? undefined;
  }

  private layerOf(host: string): number {
    return this.layers.findIndex((l) => host === l || host.startsWith(l + '/'));
  }

  /** Own and overlay xattrs of a host path inside one of the layers. */
  async xattrsOf(host: string): Promise<Xattrs> {
    const x = this.xattrs.get(host);
    if (x) return x;
    if (!this.fullyLoaded.has(this.layerOf(host))) await this.prefetch([host]);
    return this.xattrs.get(host) ?? {};
  }

  /** Read the xattrs of many lower paths in a few getfattr runs. */
  async prefetch(hosts: readonly string[]): Promise<void> {
    const todo = [...new Set(hosts)].filter((h) => !this.xattrs.has(h) && !this.fullyLoaded.has(this.layerOf(h)));
    if (todo.length === 0) return;
    const got = await readXattrs(todo, this.run);
    for (const h of todo) this.xattrs.set(h, got.get(h) ?? {});
  }

  /** Read every xattr of every layer (one getfattr per layer): for walks over whole trees. */
  async loadAll(): Promise<void> {
    for (const [i, layer] of this.layers.entries()) {
      if (this.fullyLoaded.has(i)) continue;
      for (const [rel, x] of await readXattrsTree(layer, this.run)) this.xattrs.set(rel === '' ? layer : join(layer, rel), x);
      this.fullyLoaded.add(i);
    }
  }

  /** Prefetch the opaque markers that lookups of these directories will need. */
  async prefetchDirs(rels: Iterable<string>): Promise<void> {
    const hosts: string[] = [];
    const list = [...rels]; // an iterator (Map#keys) would be spent on the first layer
    // The bottom layer's opaque markers hide nothing: no need to read them.
    for (const layer of this.layers.slice(0, -1)) {
      for (const rel of list) {
        const host = rel === '' ? layer : join(layer, rel);
        if (this.lstat(host)?.isDirectory()) hosts.push(host);
      }
    }
    await this.prefetch(hosts);
  }

  private async opaque(i: number, host: string): Promise<boolean> {
    if (i === this.layers.length - 1) return false;
    return (await this.xattrsOf(host))[OPAQUE]?.toString() === 'y';
  }

  private async probe(i: number, parts: readonly string[]): Promise<Probe> {
    const layer = this.layers[i]!;
    let stop = false;
    if (parts.length === 0) return { kind: 'found', host: layer, st: this.lstat(layer)! };
    for (let k = 1; k <= parts.length; k++) {
      const host = join(layer, ...parts.slice(0, k));
      const st = this.lstat(host);
      if (!st) return { kind: 'absent', stop };
      if (isWhiteout(st)) return { kind: 'hidden' };
      if (k === parts.length) return { kind: 'found', host, st };
      if (!st.isDirectory()) return { kind: 'hidden' };
      if (!stop && (await this.opaque(i, host))) stop = true;
    }
    return { kind: 'absent', stop };
  }

  /** What `rel` is in the merged lower tree, or undefined if it does not exist there. */
  async lookup(rel: string): Promise<LowerEntry | undefined> {
    if (this.layers.length === 0) return undefined;
    const parts = rel === '' ? [] : rel.split('/');
    for (let i = 0; i < this.layers.length; i++) {
      const p = await this.probe(i, parts);
      if (p.kind === 'found') return { host: p.host, st: p.st };
      if (p.kind === 'hidden' || p.stop) return undefined;
    }
    return undefined;
  }

  /** The names visible in directory `rel` of the merged lower tree, sorted. */
  async children(rel: string): Promise<string[]> {
    const parts = rel === '' ? [] : rel.split('/');
    const seen = new Map<string, boolean>();
    for (let i = 0; i < this.layers.length; i++) {
      const p = await this.probe(i, parts);
      if (p.kind === 'hidden') break;
      if (p.kind === 'absent') {
        if (p.stop) break;
        continue;
      }
      if (!p.st.isDirectory()) break;
      for (const name of readdirSync(p.host)) {
        if (seen.has(name)) continue;
        const st = this.lstat(join(p.host, name));
        seen.set(name, st !== undefined && !isWhiteout(st));
      }
      if (await this.opaque(i, p.host)) break;
    }
    return [...seen].filter(([, visible]) => visible).map(([n]) => n).sort();
  }
}
