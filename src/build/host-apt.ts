/**
 * apt's network work for the docker executor, done on the host: step containers have no network,
 * so the host's apt-get resolves and downloads the .debs into ib's shared archive cache, which
 * is bound into the container, where the tree's own apt installs them.
 *
 * The host's apt runs against a private apt root made from the tree — its apt config, sources,
 * keys, dpkg status — through APT_CONFIG, as mmdebstrap drives apt (`Dir` set before any other
 * config file is read, so nothing of the host's /etc/apt leaks in). It writes the lists into the
 * same shared cache the container reads, so both resolve the same versions. No namespace, no
 * mount and no chroot are needed.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import type { LowerView } from '../tree/index.js';

export interface AptRoot {
  dir: string;
  /** Environment for host apt-get: APT_CONFIG. */
  env: Record<string, string>;
}

export interface AptRootOptions {
  /** Debian architecture of the tree (amd64, arm64…). */
  architecture: string;
  lists: string;
  archives: string;
}

/** The path a symlink in the tree leads to (inside the tree), up to 16 hops. */
async function resolveView(view: LowerView, rel: string): Promise<{ rel: string; host: string; isDir: boolean } | undefined> {
  for (let hop = 0; hop < 16; hop++) {
    const e = await view.lookup(rel);
    if (!e) return undefined;
    if (!e.st.isSymbolicLink()) return { rel, host: e.host, isDir: e.st.isDirectory() };
    const target = readlinkSync(e.host);
    rel = posix.normalize(target.startsWith('/') ? target : posix.join(posix.dirname(rel), target)).replace(/^\/+/, '');
    if (rel.startsWith('..')) return undefined;
  }
  return undefined;
}

/** Copy the merged tree's `rel` (file or directory, symlinks resolved inside the tree) to `dest`. */
async function copyFromView(view: LowerView, rel: string, dest: string): Promise<boolean> {
  const e = await resolveView(view, rel);
  if (!e) return false;
  if (!e.isDir) {
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(e.host, dest);
    return true;
  }
  mkdirSync(dest, { recursive: true });
  for (const name of await view.children(e.rel)) await copyFromView(view, `${e.rel}/${name}`, join(dest, name));
  return true;
}

/**
 * Point every `Signed-By` keyring path of an apt sources file (deb822 `Signed-By:` and one-line
 * `[signed-by=…]`) through `map`. apt does not prefix these with `Dir`, so without this the
 * host's apt would check a repository against the *host's* /etc/apt/keyrings.
 */
export function rewriteSignedBy(text: string, map: (path: string) => string): string {
  const paths = (v: string) => v.replace(/(^|[\s,])(\/[^\s,\]]+)/g, (_m, pre: string, p: string) => `${pre}${map(p)}`);
  return text
    .replace(/^(signed-by:[ \t]*)(\/.*)$/gim, (_m, key: string, v: string) => key + paths(v))
    .replace(/(\[[^\]\n]*\bsigned-by=)([^\s\]]+)/gi, (_m, key: string, v: string) => key + paths(v));
}

/** apt.conf for the host's apt-get over a private root (what mmdebstrap writes). */
export function aptConf(dir: string, o: AptRootOptions, foreign: readonly string[]): string {
  const q = (s: string) => `"${s.replace(/"/g, '')}"`;
  return [
    `Dir ${q(dir + '/')};`,
    `Dir::State::Status ${q(join(dir, 'var/lib/dpkg/status'))};`,
    `Dir::State::Lists ${q(o.lists + '/')};`,
    `Dir::Cache::Archives ${q(o.archives + '/')};`,
    `APT::Architecture ${q(o.architecture)};`,
    `APT::Architectures { ${[o.architecture, ...foreign.filter((a) => a !== o.architecture)].map((a) => `${q(a)}; `).join('')}};`,
    '',
  ].join('\n');
}

function sourcesFiles(dir: string): string[] {
  const out: string[] = [];
  const main = join(dir, 'etc/apt/sources.list');
  try {
    readFileSync(main);
    out.push(main);
  } catch {
    // no sources.list: deb822 only
  }
  const d = join(dir, 'etc/apt/sources.list.d');
  for (const n of (() => {
    try {
      return readdirSync(d).sort();
    } catch {
      return [] as string[];
    }
  })()) if (n.endsWith('.list') || n.endsWith('.sources')) out.push(join(d, n));
  return out;
}

/**
 * Make the private apt root for a tree (`view`: its layers, topmost first). `extra` (a host dir
 * laid out like a root, e.g. a step's new repository files) is copied over it before the keyring
 * paths are rewritten.
 */
export async function prepareAptRoot(view: LowerView, dir: string, o: AptRootOptions, extra?: string): Promise<AptRoot> {
  mkdirSync(dir, { recursive: true });
  await copyFromView(view, 'etc/apt', join(dir, 'etc/apt'));
  await copyFromView(view, 'var/lib/dpkg/status', join(dir, 'var/lib/dpkg/status'));
  await copyFromView(view, 'var/lib/apt/extended_states', join(dir, 'var/lib/apt/extended_states'));
  for (const d of ['var/lib/dpkg', 'var/lib/apt', 'var/cache/apt', 'var/log/apt']) mkdirSync(join(dir, d), { recursive: true });
  if (extra) copyTree(extra, dir);
  for (const f of sourcesFiles(dir)) {
    const text = readFileSync(f, 'utf8');
    const keys: string[] = [];
    const out = rewriteSignedBy(text, (p) => {
      keys.push(p);
      return join(dir, p);
    });
    // A keyring the tree has (or the step just added) is read from the private root.
    for (const k of keys) if (!existsFile(join(dir, k))) await copyFromView(view, k.replace(/^\/+/, ''), join(dir, k));
    if (out !== text) writeFileSync(f, out);
  }
  const archFile = await resolveView(view, 'var/lib/dpkg/arch');
  const foreign = archFile && !archFile.isDir ? readFileSync(archFile.host, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean) : [];
  const conf = join(dir, 'apt.conf');
  writeFileSync(conf, aptConf(dir, o, foreign));
  return { dir, env: { APT_CONFIG: conf } };
}

function existsFile(p: string): boolean {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
}

function copyTree(src: string, dest: string): void {
  for (const e of readdirSync(src, { withFileTypes: true })) {
    const s = join(src, e.name);
    const d = join(dest, e.name);
    if (e.isDirectory()) {
      mkdirSync(d, { recursive: true });
      copyTree(s, d);
    } else if (e.isFile()) copyFileSync(s, d);
  }
}
