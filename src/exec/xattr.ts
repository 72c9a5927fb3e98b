/**
 * Node 20 has no xattr API. ib reads and writes extended attributes (file capabilities such as
 * `security.capability` on /bin/ping, overlay markers, SELinux labels) in batches through
 * getfattr/setfattr from the `attr` package, hex-encoded so values stay byte-exact.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as defaultRun, type Run } from './run.js';

export type Xattrs = Record<string, Buffer>;

/** getfattr escapes unprintable bytes in names as \ooo and backslash as \\. */
function unescapeName(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x5c && i + 3 < raw.length + 0 && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString('latin1'))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else if (c === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i += 1;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString('utf8');
}

function escapeName(s: string): string {
  const out: string[] = [];
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x5c) out.push('\\\\');
    else if (b < 0x20 || b === 0x7f || b === 0x3d) out.push('\\' + b.toString(8).padStart(3, '0'));
    else out.push(String.fromCharCode(b));
  }
  return Buffer.from(out.join(''), 'latin1').toString('latin1');
}

function parseValue(v: string): Buffer {
  if (v.startsWith('0x')) return Buffer.from(v.slice(2), 'hex');
  if (v.startsWith('0s')) return Buffer.from(v.slice(2), 'base64');
  if (v.startsWith('"') && v.endsWith('"')) return Buffer.from(v.slice(1, -1), 'utf8');
  return Buffer.from(v, 'utf8');
}

/** Parse `getfattr -d -m - -e hex` output into path → xattrs. */
export function parseGetfattr(out: string): Map<string, Xattrs> {
  const result = new Map<string, Xattrs>();
  let cur: Xattrs | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      cur = {};
      result.set(unescapeName(line.slice(8)), cur);
    } else if (cur && line.length > 0) {
      const eq = line.indexOf('=');
      if (eq < 0) cur[unescapeName(line)] = Buffer.alloc(0);
      else cur[unescapeName(line.slice(0, eq))] = parseValue(line.slice(eq + 1));
    }
  }
  return result;
}

/**
 * Every xattr under `dir` (symlinks not followed), keyed by path relative to `dir` ('' for `dir`
 * itself). Only entries that have xattrs appear. One process for the whole tree.
 */
export async function readXattrsTree(dir: string, run: Run = defaultRun): Promise<Map<string, Xattrs>> {
  const r = await run('getfattr', ['-R', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '-h', '--', dir], { allowFailure: true });
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`getfattr failed on ${dir}: ${r.stderr.trim()}`);
  const byAbs = parseGetfattr(r.stdout);
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const out = new Map<string, Xattrs>();
  for (const [p, x] of byAbs) {
    const rel = p === dir || p === prefix ? '' : p.startsWith(prefix) ? p.slice(prefix.length) : p;
    out.set(rel, x);
  }
  return out;
}

/** The xattrs of a list of paths (symlinks not followed), in batches. */
export async function readXattrs(paths: string[], run: Run = defaultRun): Promise<Map<string, Xattrs>> {
  const out = new Map<string, Xattrs>();
  for (let i = 0; i < paths.length; i += 2000) {
    const batch = paths.slice(i, i + 2000);
    const r = await run('getfattr', ['-d', '-m', '-', '-e', 'hex', '--absolute-names', '-h', '--', ...batch], { allowFailure: true });
    for (const [p, x] of parseGetfattr(r.stdout)) out.set(p, x);
  }
  return out;
}

/** Set xattrs on many paths at once with `setfattr -h --restore` (symlinks not followed). */
export async function writeXattrs(entries: { path: string; xattrs: Xattrs }[], run: Run = defaultRun): Promise<void> {
  const lines: string[] = [];
  for (const e of entries) {
    const names = Object.keys(e.xattrs);
    if (names.length === 0) continue;
    lines.push(`# file: ${escapeName(e.path)}`);
    // security.capability must be set last: a later chown clears it, and some kernels reorder.
    names.sort((a, b) => (a === 'security.capability' ? 1 : b === 'security.capability' ? -1 : a < b ? -1 : a > b ? 1 : 0));
    for (const n of names) lines.push(`${escapeName(n)}=0x${e.xattrs[n]!.toString('hex')}`);
    lines.push('');
  }
  if (lines.length === 0) return;
  const dir = await mkdtemp(join(tmpdir(), 'ib-xattr-'));
  try {
    const file = join(dir, 'restore');
    await writeFile(file, Buffer.from(lines.join('\n') + '\n', 'latin1'));
    await run('setfattr', ['-h', `--restore=${file}`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function xattrsEqual(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  if (ka.length !== kb.length) return false;
  return ka.every((k, i) => k === kb[i] && a![k]!.equals(b![k]!));
}
