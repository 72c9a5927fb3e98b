/**
 * What an interrupted or faulty run may not leave behind: mounts under a directory, processes of
 * its session, blobs whose bytes do not match their names, an index.json that does not parse or
 * points at nothing, and temp files of processes that are gone.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../../src/exec/lock.js';
import { checkStore as productCheckStore, type StoreProblem } from '../../src/oci/store-check.js';

/** Loop devices whose backing file is at or under `dir` (ib makes media without any). */
export function loopDevicesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const n of existsSync('/sys/block') ? readdirSync('/sys/block') : []) {
    if (!n.startsWith('loop')) continue;
    try {
      const f = readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      if (f === dir || f.startsWith(dir + '/')) out.push(`${n}: ${f}`);
    } catch { /* not attached */ }
  }
  return out;
}

/** Mount points (as /proc/self/mountinfo spells them, octal escapes decoded) at or under `dir`. */
export function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescape(l.split(' ')[4]!))
    .filter((m) => m === dir || m.startsWith(dir.endsWith('/') ? dir : dir + '/'));
}

export interface Proc {
  pid: number;
  ppid: number;
  sid: number;
  cmdline: string;
}

export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      // Fields after the ")" of the command name: state ppid pgrp session …
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${n}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (f[0] === 'Z') continue;
      out.push({ pid: Number(n), ppid: Number(f[1]), sid: Number(f[3]), cmdline });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/** `pid` and every process below it, with the sessions they are in (ib runs steps in their own). */
export function processTree(pid: number): { pids: number[]; sids: number[] } {
  const all = processes();
  const pids = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) if (pids.has(p.ppid) && !pids.has(p.pid)) { pids.add(p.pid); grew = true; }
  }
  const sids = new Set(all.filter((p) => pids.has(p.pid)).map((p) => p.sid));
  return { pids: [...pids], sids: [...sids] };
}

/**
 * Live processes of session `sid` (ib started with setsid), of the process tree seen when the
 * signal was sent (`tree`: pids and their sessions, which catches orphans reparented to init),
 * or whose command line names `needle`.
 */
export function leftoverProcesses(sid: number, needle: string, tree?: { pids: number[]; sids: number[] }): Proc[] {
  const pids = new Set(tree?.pids ?? []);
  const sids = new Set([sid, ...(tree?.sids ?? [])]);
  return processes().filter((p) => p.pid !== process.pid && (sids.has(p.sid) || pids.has(p.pid) || p.cmdline.includes(needle)));
}

/** Poll briefly: a process killed with SIGKILL may take a moment to be reaped. */
export async function waitNoProcesses(sid: number, needle: string, ms = 3000, tree?: { pids: number[]; sids: number[] }): Promise<Proc[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = leftoverProcesses(sid, needle, tree);
    if (left.length === 0 || Date.now() > end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function hashFile(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('error', rej).on('end', () => res('sha256:' + h.digest('hex')));
  });
}

export interface StoreReport {
  blobs: number;
  /** Blobs whose content hashes to another digest, odd names in blobs/sha256, and index, size or manifest problems. */
  bad: string[];
  /** Index or manifest references to blobs that are missing. */
  dangling: string[];
  /** Temp files in .ingest of processes that no longer run (and files ib never names so there). */
  staleIngest: string[];
}

/** The integrity check of an OCI layout: `ib store check`'s checkStore, in the shape tests assert on. */
export async function checkStore(root: string): Promise<StoreReport> {
  const r = await productCheckStore(root);
  const list = (keep: (p: StoreProblem) => boolean) => r.problems.filter(keep).map((p) => (p.kind === 'corrupt' || p.kind === 'dangling' ? p.subject : `${p.kind}: ${p.message}`));
  const inIngest = (p: StoreProblem) => p.subject.startsWith('.ingest/');
  return {
    blobs: r.blobs,
    bad: list((p) => !['dangling', 'stale-ingest', 'stale-extract'].includes(p.kind) && !inIngest(p)),
    dangling: list((p) => p.kind === 'dangling'),
    staleIngest: list(inIngest),
  };
}

/** Temp names anywhere in the cache dir (outside the store) that belong to dead processes. */
export function staleTemps(cacheDir: string): string[] {
  const out: string[] = [];
  const pidOf = (name: string) => Number(/-(\d+)-|\.(\d+)(?:\.tmp|\.stale)?$/.exec(name)?.slice(1).find(Boolean) ?? NaN);
  for (const sub of ['tmp', 'steps', 'layers', '.']) {
    const d = join(cacheDir, sub);
    for (const n of existsSync(d) ? readdirSync(d) : []) {
      const temp = sub === 'tmp' || /\.tmp$|\.extract-|\.stale$/.test(n) || (sub === '.' && /^stubs\.\d+$/.test(n));
      if (temp && !pidAlive(pidOf(n))) out.push(join(sub, n));
    }
  }
  return out;
}

/**
 * The registry's own storage (distribution's filesystem driver): every blob data file must hash
 * to the digest it is filed under. Upload dirs (`_uploads/<uuid>`) of cut-off uploads are the
 * registry's business: distribution keeps them until its upload purger runs (a week by
 * default), and they are never served.
 */
export async function checkRegistryStorage(storageDir: string): Promise<{ blobs: number; bad: string[]; uploads: number }> {
  const root = join(storageDir, 'data', 'docker', 'registry', 'v2');
  const blobs = join(root, 'blobs', 'sha256');
  const bad: string[] = [];
  let n = 0;
  for (const pre of existsSync(blobs) ? readdirSync(blobs) : []) {
    for (const hex of readdirSync(join(blobs, pre))) {
      const data = join(blobs, pre, hex, 'data');
      if (!existsSync(data)) { bad.push(`sha256:${hex} (no data)`); continue; }
      n++;
      if ((await hashFile(data)) !== `sha256:${hex}`) bad.push(`sha256:${hex}`);
    }
  }
  let uploads = 0;
  const repos = join(root, 'repositories');
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name === '_uploads') uploads += readdirSync(join(d, e.name)).length;
      else if (!e.name.startsWith('_')) walk(join(d, e.name));
    }
  };
  if (existsSync(repos)) walk(repos);
  return { blobs: n, bad, uploads };
}
