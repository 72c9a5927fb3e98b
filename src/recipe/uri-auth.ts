/**
 * Credentials in a repository URI (`http://user:password@host/debian`). They are used, never
 * shown or kept: ib sends them when it reads the repository's InRelease, and apt reads them from
 * a file in /etc/apt/auth.conf.d that exists only while a step runs. Sources files, `ib plan`,
 * step keys, error messages and the image's layers see the URI without them.
 */

export interface UriAuth {
  /** apt's `machine`: scheme://host[:port]/path, which apt matches against a source's URI. */
  machine: string;
  login: string;
  password: string;
}

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i;

/** The URI without `user:password@`, and the credentials it had (percent-decoded). */
export function splitUriAuth(uri: string): { uri: string; auth?: UriAuth } {
  const m = USERINFO.exec(uri);
  if (!m) return { uri };
  const clean = uri.replace(USERINFO, '$1');
  const [user = '', ...rest] = m[2]!.split(':');
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { uri: clean, auth: { machine: clean.replace(/\/+$/, ''), login: decode(user), password: decode(rest.join(':')) } };
}

/** The URI as it may be printed or hashed: any userinfo becomes `***` (a lone user may be a token). */
export function redactUri(uri: string): string {
  return uri.replace(USERINFO, '$1***@');
}

/** Why apt could not use these credentials, or undefined when it can. */
export function uriAuthProblem(uri: string): string | undefined {
  const { auth } = splitUriAuth(uri);
  if (!auth) return undefined;
  // apt's auth.conf is whitespace-separated tokens, without quoting.
  if (!auth.login || /\s/.test(auth.login + auth.password)) return 'credentials in the URI must be user:password without spaces';
  return undefined;
}

/** An apt_auth.conf(5) file for these credentials (apt needs the scheme to send them over http). */
export function aptAuthConf(auths: readonly UriAuth[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const a of auths) {
    if (seen.has(a.machine)) continue;
    seen.add(a.machine);
    out.push(`machine ${a.machine}`, `login ${a.login}`, `password ${a.password}`, '');
  }
  return out.join('\n');
}
