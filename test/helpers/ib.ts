/** Run the compiled `ib` CLI as a user would, capturing output and the --json event stream. */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const IB = join(REPO, 'dist/cli/main.js');

export interface IbResult {
  code: number;
  stdout: string;
  stderr: string;
  events: Record<string, unknown>[];
  seconds: number;
}

export function ib(args: string[], opts: { cacheDir?: string; env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<IbResult> {
  const t0 = performance.now();
  const full = [IB, ...(opts.cacheDir ? ['--cache-dir', opts.cacheDir] : []), ...args];
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, full, { cwd: opts.cwd ?? REPO, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', rej);
    p.stdin.end(opts.input ?? '');
    p.on('close', (code) => {
      const events = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
      res({ code: code ?? -1, stdout, stderr, events, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** Like ib() but throws with the stderr tail when the exit code is not 0. */
export async function ibOk(args: string[], opts: Parameters<typeof ib>[1] = {}): Promise<IbResult> {
  const r = await ib(args, opts);
  if (r.code !== 0) throw new Error(`ib ${args.join(' ')} exited ${r.code}:\n${r.stderr.split('\n').slice(-30).join('\n')}`);
  return r;
}
