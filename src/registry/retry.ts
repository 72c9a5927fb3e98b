/**
 * Backoff for registry requests: exponential, no jitter (runs stay reproducible), and a server's
 * Retry-After is honoured — Docker Hub answers 429 with one, and retrying sooner only earns
 * another 429.
 */
export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After we wait for before giving up on the request. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 120_000 };

export function resolveRetry(p?: Partial<RetryPolicy>): RetryPolicy {
  return { ...DEFAULT_RETRY, ...p };
}

/** Delay before try number `attempt + 1` (attempt counts from 1). */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const ra = parseRetryAfter(retryAfter);
  if (ra !== undefined) return Math.min(ra, policy.maxRetryAfterMs);
  return Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(v: string | null | undefined, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
