/**
 * The package mirror's state: the InRelease of each suite a recipe reads. Its hash goes into the
 * keys of package steps, so a mirror update invalidates exactly those steps and nothing else.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { IbError } from '../errors.js';
import type { MirrorState, MirrorSuite } from '../recipe/plan.js';
import { DEFAULT_MIRROR, mirrorKey } from '../recipe/plan.js';
import { redactUri, splitUriAuth, type UriAuth } from '../recipe/uri-auth.js';

/** The Debian mirror this host's apt uses (recipes default to it), else deb.debian.org. */
export function hostDebianMirror(): string {
  const texts: string[] = [];
  try {
    texts.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  } catch { /* none */ }
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) {
      if (f.endsWith('.sources') || f.endsWith('.list')) texts.push(readFileSync(`/etc/apt/sources.list.d/${f}`, 'utf8'));
    }
  } catch { /* none */ }
  for (const t of texts) {
    for (const m of t.matchAll(/(?:^URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)) {
      const uri = m[1]!.replace(/\/+$/, '');
      if (/\/debian$/.test(uri)) return uri;
    }
  }
  return DEFAULT_MIRROR;
}

export interface MirrorRelease {
  hash: string;
  /** The Date: field, seconds since the epoch. */
  date?: number;
}

async function fetchInRelease(m: MirrorSuite, timeoutMs: number, auth?: UriAuth): Promise<MirrorRelease> {
  // fetch() refuses a URL with credentials (and would print it in its error): they go in a header.
  const { uri } = splitUriAuth(m.uri);
  const url = `${uri.replace(/\/+$/, '')}/dists/${m.suite}/InRelease`;
  const shown = redactUri(m.uri);
  const headers: Record<string, string> = auth ? { authorization: 'Basic ' + Buffer.from(`${auth.login}:${auth.password}`).toString('base64') } : {};
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new IbError(`cannot reach mirror ${shown} (suite ${m.suite}): ${redactUri(cause?.code ?? cause?.message ?? (e as Error).message)}`, {
      hint: 'check the mirror URL in the recipe (bootstrap.mirror or repositories[].uri) and the network',
    });
  }
  if (res.status === 401 || res.status === 403) {
    await res.arrayBuffer().catch(() => undefined);
    throw new IbError(`mirror ${shown} refused access: GET ${url} returned ${res.status}`, {
      hint: auth ? 'check the user name and password in repositories[].uri' : 'a private repository takes its credentials in the URI: repositories: [{uri: https://USER:PASSWORD@host/path, …}]',
    });
  }
  if (!res.ok) {
    throw new IbError(`mirror ${shown} has no suite "${m.suite}": GET ${url} returned ${res.status}`, {
      hint: 'check bootstrap.suite / repositories[].suites, e.g. bookworm, bookworm-updates',
    });
  }
  const body = Buffer.from(await res.arrayBuffer());
  const dateLine = /^Date:\s*(.+)$/m.exec(body.toString('utf8'));
  const date = dateLine ? Math.floor(Date.parse(dateLine[1]!) / 1000) : undefined;
  return { hash: 'sha256:' + createHash('sha256').update(body).digest('hex'), date: Number.isFinite(date) ? date : undefined };
}

/** Fetch every suite's InRelease in parallel. */
export async function resolveMirrorState(suites: MirrorSuite[], timeoutMs = 30_000): Promise<{ state: MirrorState; newestDate?: number }> {
  // A source the base image has without credentials (its sources file never holds them) is read
  // with those of the recipe's repository at the same URI.
  const auths = new Map<string, UriAuth>();
  for (const s of suites) {
    const { uri, auth } = splitUriAuth(s.uri);
    if (auth && !auths.has(uri)) auths.set(uri, auth);
  }
  const rel = await Promise.all(suites.map((s) => fetchInRelease(s, timeoutMs, auths.get(splitUriAuth(s.uri).uri))));
  const state: MirrorState = {};
  let newestDate: number | undefined;
  suites.forEach((s, i) => {
    state[mirrorKey(s)] = rel[i]!.hash;
    const d = rel[i]!.date;
    if (d !== undefined && (newestDate === undefined || d > newestDate)) newestDate = d;
  });
  return { state, newestDate };
}
