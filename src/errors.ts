/**
 * One error type for everything ib reports to a user. `hint` says what to do about it;
 * `cause` keeps the chain so the CLI can print "verb: verb: root cause".
 */
export class IbError extends Error {
  readonly hint?: string;
  /** Exit code the CLI uses: 1 for failures, 2 for usage errors. */
  readonly exitCode: number;

  constructor(message: string, opts: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** Bad user input (a recipe, a flag, a reference): exit code 2 when it is a usage error. */
export class UsageError extends IbError {
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...opts, exitCode: 2 });
  }
}

/** Wrap an error with what we were doing: `pushing layer sha256:…: <cause>`. */
export function wrap(what: string, err: unknown, hint?: string): IbError {
  const inner = err instanceof IbError ? err : undefined;
  return new IbError(what, { cause: err, hint: hint ?? inner?.hint, exitCode: inner?.exitCode });
}

/** The chain of messages, outermost first. */
export function messageChain(err: unknown): string[] {
  const out: string[] = [];
  let cur: unknown = err;
  while (cur !== undefined && cur !== null) {
    if (cur instanceof Error) {
      out.push(cur.message);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      out.push(String(cur));
      break;
    }
  }
  return out;
}

/** The innermost hint in the chain, if any. */
export function hintOf(err: unknown): string | undefined {
  let hint: string | undefined;
  let cur: unknown = err;
  while (cur instanceof Error) {
    if (cur instanceof IbError && cur.hint) hint ??= cur.hint;
    cur = (cur as { cause?: unknown }).cause;
  }
  return hint;
}

/** What to do when a write fails for lack of space (ENOSPC, or EDQUOT for a quota). */
export const DISK_FULL_HINT = 'free space or use --cache-dir on a larger disk (ib prune deletes blobs no image uses)';

/** A write that failed because the disk (or the user's quota) is full. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
