/**
 * Registry failures keep the distribution spec's error codes, with the method and a redacted URL,
 * so a user can tell "the tag does not exist" from "you are not logged in".
 * Code table: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes
 */
import { z } from 'zod';
import { IbError } from '../errors.js';

export type RegistryErrorCode =
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID'
  | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'TOOMANYREQUESTS'
  /** Not from the spec: the connection failed, or the server answered with no error body. */
  | 'NETWORK' | 'HTTP';

const HINTS: Partial<Record<string, string>> = {
  UNAUTHORIZED: 'log in with `ib login HOST` (or pass --creds USER:PASS / --authfile FILE)',
  DENIED: 'the credentials in use lack access to this repository (pushing needs write access)',
  NAME_UNKNOWN: 'check the repository name; it does not exist on this registry',
  MANIFEST_UNKNOWN: 'check the tag or digest: the registry has no such manifest in this repository',
  BLOB_UNKNOWN: 'the registry lost or never had this blob; push the image again',
  MANIFEST_BLOB_UNKNOWN: 'a blob the manifest names is missing on the registry; push the image again',
  DIGEST_INVALID: 'the data changed in transit or in the local store; retry, and run `ib prune` if it persists',
  TOOMANYREQUESTS: 'the registry is rate-limiting; wait a while, or log in for a higher limit',
  NAME_INVALID: 'repository names are lowercase letters, digits, and . _ - / separators',
  UNSUPPORTED: 'this registry does not support the operation (e.g. OCI media types or deletes)',
};

export class RegistryError extends IbError {
  readonly code: string;
  readonly status?: number;
  readonly method: string;
  readonly url: string;
  /** The registry's own words, without method, URL and code. */
  readonly detail: string;

  constructor(o: { method: string; url: string; code: string; status?: number; message: string; hint?: string; cause?: unknown }) {
    const where = `${o.method} ${redactUrl(o.url)}`;
    const what = o.status !== undefined ? `${o.status} ${o.code}` : o.code;
    super(`${where}: ${what}: ${o.message}`, { hint: o.hint ?? HINTS[o.code], cause: o.cause });
    this.code = o.code;
    this.status = o.status;
    this.method = o.method;
    this.url = redactUrl(o.url);
    this.detail = o.message;
  }
}

const ErrorBody = z.object({
  errors: z.array(z.object({ code: z.string(), message: z.string().optional(), detail: z.unknown().optional() })),
});

/** What a status means when the body says nothing (HEAD has no body). */
function codeForStatus(status: number, notFound: RegistryErrorCode): string {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return notFound;
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status === 405) return 'UNSUPPORTED';
  return 'HTTP';
}

/** Turn an error response into a RegistryError; the first spec error in the body wins. */
export function errorFromResponse(method: string, url: string, status: number, body: string, notFound: RegistryErrorCode = 'NAME_UNKNOWN'): RegistryError {
  let parsed: z.infer<typeof ErrorBody> | undefined;
  try {
    const r = ErrorBody.safeParse(JSON.parse(body));
    if (r.success && r.data.errors.length > 0) parsed = r.data;
  } catch {
    // Not JSON: a proxy's HTML page or an empty body.
  }
  if (parsed) {
    const first = parsed.errors[0]!;
    const detail = formatDetail(first.detail);
    const more = parsed.errors.length > 1 ? ` (+${parsed.errors.length - 1} more)` : '';
    return new RegistryError({ method, url, status, code: first.code, message: `${first.message ?? first.code.toLowerCase()}${detail}${more}`.slice(0, 500) });
  }
  const code = codeForStatus(status, notFound);
  const text = body.trim().replace(/\s+/g, ' ').slice(0, 200);
  return new RegistryError({ method, url, status, code, message: text || statusText(status) });
}

const AccessDetail = z.array(z.object({ Type: z.string(), Name: z.string(), Action: z.string() }).passthrough()).min(1);

/** distribution puts the access an UNAUTHORIZED/DENIED lacked in `detail`: say it in words. */
function formatDetail(detail: unknown): string {
  if (detail === undefined || detail === null || detail === '') return '';
  const access = AccessDetail.safeParse(detail);
  if (access.success) return ` (needs ${access.data.map((a) => `${a.Action} on ${a.Type} ${a.Name}`).join(', ')})`;
  return ` (${typeof detail === 'string' ? detail : JSON.stringify(detail)})`;
}

function statusText(status: number): string {
  const t: Record<number, string> = {
    400: 'bad request', 401: 'authentication required', 403: 'access denied', 404: 'not found',
    405: 'method not allowed', 416: 'range not satisfiable', 429: 'too many requests',
    500: 'internal server error', 502: 'bad gateway', 503: 'service unavailable', 504: 'gateway timeout',
  };
  return t[status] ?? `unexpected HTTP status ${status}`;
}

const SECRET_PARAM = /(state|token|sig|signature|key|credential|secret|password|auth)/i;

/** Drop userinfo and the values of query parameters that carry secrets (upload states, signed URLs). */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  u.username = '';
  u.password = '';
  for (const k of [...u.searchParams.keys()]) if (SECRET_PARAM.test(k)) u.searchParams.set(k, 'REDACTED');
  return u.toString();
}

/** Network-level failures (no HTTP answer) worth retrying. */
const RETRIABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE',
]);

export function networkCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 5 && cur instanceof Error; i++) {
    const code = (cur as NodeJS.ErrnoException).code;
    if (code) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isRetriableNetworkError(err: unknown): boolean {
  if (err instanceof RegistryError) return err.code === 'NETWORK' && err.cause !== undefined && isRetriableNetworkError(err.cause);
  const code = networkCode(err);
  return code !== undefined && RETRIABLE_CODES.has(code);
}

export function isRetriableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Any failure a retry may cure: a dropped or timed-out connection, 429, 5xx. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof RegistryError && err.status !== undefined) return isRetriableStatus(err.status);
  return isRetriableNetworkError(err);
}

export function networkError(method: string, url: string, err: unknown): RegistryError {
  const code = networkCode(err);
  const msg = (err as Error)?.message ?? String(err);
  const hint = code === 'ECONNREFUSED'
    ? 'is the registry running and listening there? (a plain-http registry needs --tls-verify=false unless it is on 127.0.0.1/localhost)'
    : /certificate|self.signed|SSL|TLS/i.test(msg) || code?.startsWith('ERR_TLS') || code?.includes('CERT')
      ? 'the registry\'s TLS certificate is not trusted; fix it, or use --tls-verify=false for a test registry'
      : undefined;
  return new RegistryError({ method, url, code: 'NETWORK', message: code ? `${msg} (${code})` : msg, hint, cause: err });
}
