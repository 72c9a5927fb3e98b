/**
 * The one place ib spawns processes (mkosi's run.py is the model): it logs `+ cmd args` under
 * --debug, scrubs the environment, and turns failures into sentences with the tail of stderr.
 * Nothing else imports execa.
 */
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import { IbError } from '../errors.js';
import { debug } from '../log.js';
import { packageForTool } from './tools.js';

export interface RunOptions {
  cwd?: string;
  /** Extra environment on top of the scrubbed base (PATH, HOME, LANG=C.UTF-8, TERM). */
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /** Let the child write straight to our stderr/stdout (long tools whose output the user wants). */
  inherit?: boolean;
  /** Return a non-zero exit as a result instead of throwing. */
  allowFailure?: boolean;
  /** Keep stdout as a Buffer (binary output). */
  binary?: boolean;
  timeoutMs?: number;
  /**
   * Signal for a cancel (SIGINT/SIGTERM of ib) or timeout. `unshare --fork` blocks SIGTERM, so a
   * namespace whose contents are disposable is stopped with SIGKILL at once instead of after
   * the 3 s grace period.
   */
  killSignal?: 'SIGTERM' | 'SIGKILL';
  /**
   * Start the command in a process group of its own and SIGKILL the whole group on a cancel.
   * For `unshare --fork`: killed in the instant after its fork, before the child has set its
   * parent-death signal (likely on a loaded machine), the child ran on, orphaned, with ib waiting
   * for its output. The group holds that child too.
   */
  killGroup?: boolean;
}

export interface RunResult {
  stdout: string;
  stdoutBuffer?: Buffer;
  stderr: string;
  exitCode: number;
}

export type Run = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

import { shutdown } from './shutdown.js';

export { shutdown };

export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: process.env.HOME ?? '/root',
  };
  if (process.env.TERM) env.TERM = process.env.TERM;
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export function formatCommand(cmd: string, args: readonly string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [cmd, ...args].map(q).join(' ');
}

function tail(s: string, lines = 15): string {
  const all = s.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

export function commandError(cmd: string, args: readonly string[], r: {
  exitCode?: number; signal?: string; stderr?: string; stdout?: string; timedOut?: boolean; isCanceled?: boolean;
  code?: string;
}): IbError {
  const name = cmd.split('/').pop() ?? cmd;
  if (r.code === 'ENOENT' || r.exitCode === 127) {
    const pkg = packageForTool(name);
    return new IbError(`\`${name}\` not found`, {
      hint: pkg ? `install it with: apt-get install -y ${pkg}   (or run: ib doctor --install)` : 'install it and make sure it is on PATH',
    });
  }
  const err = (r.stderr ?? '').trim() || (r.stdout ?? '').trim();
  let what: string;
  if (r.isCanceled) what = 'was interrupted';
  else if (r.timedOut) what = 'timed out';
  else if (r.signal) what = `was killed by ${r.signal}`;
  else what = `returned exit code ${r.exitCode}`;
  return new IbError(`\`${formatCommand(cmd, args).slice(0, 300)}\` ${what}${err ? `:\n${tail(err)}` : ''}`);
}

/**
 * Nothing new starts once ib is interrupted. execa would spawn it and kill it at once, and an
 * `unshare --fork` killed before its child had set its parent-death signal left that child
 * (mmdebstrap) running on, with ib waiting for its output: 40 s after a SIGTERM.
 */
function refuseIfInterrupted(cmd: string, args: readonly string[]): void {
  if (shutdown.signal.aborted) throw commandError(cmd, args, { isCanceled: true });
}

export const run: Run = async (cmd, args, opts = {}) => {
  refuseIfInterrupted(cmd, args);
  debug(`+ ${formatCommand(cmd, args)}`);
  const sub = execa(cmd, [...args], {
    cwd: opts.cwd,
    env: baseEnv(opts.env),
    extendEnv: false,
    detached: opts.killGroup,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : undefined,
    stdout: opts.inherit ? ['pipe', 'inherit'] : 'pipe',
    stderr: opts.inherit ? ['pipe', 'inherit'] : 'pipe',
    encoding: opts.binary ? 'buffer' : 'utf8',
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 1024 * 1024 * 1024,
    cancelSignal: shutdown.signal,
    killSignal: opts.killSignal ?? 'SIGTERM',
    forceKillAfterDelay: 3000,
    timeout: opts.timeoutMs,
  });
  const killGroup = () => {
    try {
      if (sub.pid) process.kill(-sub.pid, 'SIGKILL');
    } catch { /* already gone */ }
  };
  if (opts.killGroup) shutdown.signal.addEventListener('abort', killGroup, { once: true });
  const r = await sub.finally(() => shutdown.signal.removeEventListener('abort', killGroup));
  const stdoutBuffer = opts.binary ? Buffer.from(r.stdout as unknown as Uint8Array) : undefined;
  const stdout = opts.binary ? '' : String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  const res: RunResult = { stdout, stdoutBuffer, stderr, exitCode: r.exitCode ?? -1 };
  if (r.failed && (!opts.allowFailure || r.exitCode === undefined || r.isCanceled)) {
    throw commandError(cmd, args, {
      exitCode: r.exitCode, signal: r.signal, stderr, stdout, timedOut: r.timedOut, isCanceled: r.isCanceled,
      code: (r.cause as NodeJS.ErrnoException | undefined)?.code,
    });
  }
  return res;
};

export interface Spawned {
  stdin: Writable | null;
  stdout: Readable | null;
  /** Resolves when the process exits 0; rejects with a sentence otherwise. */
  done: Promise<void>;
  kill(): void;
}

/** Start a process whose stdin/stdout are streamed (tar, zstd, pigz, qemu). */
export function spawn(cmd: string, args: readonly string[], opts: RunOptions & { stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | 'ignore' | 'inherit' } = {}): Spawned {
  refuseIfInterrupted(cmd, args);
  debug(`+ ${formatCommand(cmd, args)}`);
  const child: ResultPromise = execa(cmd, [...args], {
    cwd: opts.cwd,
    env: baseEnv(opts.env),
    extendEnv: false,
    stdin: opts.stdin ?? 'ignore',
    stdout: opts.stdout ?? 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    cancelSignal: shutdown.signal,
    forceKillAfterDelay: 3000,
    timeout: opts.timeoutMs,
  });
  const done = child.then((r) => {
    if (r.failed) {
      throw commandError(cmd, args, {
        exitCode: r.exitCode, signal: r.signal, stderr: String(r.stderr ?? ''), timedOut: r.timedOut,
        isCanceled: r.isCanceled, code: (r.cause as NodeJS.ErrnoException | undefined)?.code,
      });
    }
  });
  return { stdin: child.stdin, stdout: child.stdout, done, kill: () => child.kill() };
}
