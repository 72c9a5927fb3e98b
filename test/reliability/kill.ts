/**
 * Kill real `ib` runs at points chosen from their `--json` event stream. ib is started in a
 * session of its own (setsid), so every process it starts — unshare, the `__step` child, apt,
 * dpkg, mmdebstrap, cp, mkfs — can be found afterwards by its session id, even when it escaped
 * ib's process tree by being reparented to init.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { IB } from '../helpers/ib.js';
import { processTree } from './leftovers.js';

export type Event = Record<string, unknown>;

export interface KillPoint {
  /**
   * Fires when this returns true for an event (seen in order); 'spawn': when `ready` (polled)
   * says so, for commands that emit no events (ib export).
   */
  when: ((e: Event, seen: Event[]) => boolean) | 'spawn';
  ready?: () => boolean;
  /** Milliseconds to wait after the event before the signal. */
  delayMs?: number;
  signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP';
  /** Send to the whole process group, as a terminal's Ctrl-C does, instead of to ib alone. */
  group?: boolean;
}

export interface KilledRun {
  pid: number;
  code: number | null;
  signalled: boolean;
  /** Seconds from the signal to ib's exit (undefined if the point was never reached). */
  exitSeconds?: number;
  /** ib's process tree (pids and their sessions) when the signal was sent. */
  tree?: { pids: number[]; sids: number[] };
  events: Event[];
  stderr: string;
  stdout: string;
}

export function ibKilled(args: string[], point: KillPoint, opts: { cacheDir: string; cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<KilledRun> {
  const p = spawn(process.execPath, [IB, '--cache-dir', opts.cacheDir, '--json', ...args], {
    cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const pid = p.pid!;
  const events: Event[] = [];
  let stderr = '';
  let stdout = '';
  let partial = '';
  let sentAt: number | undefined;
  let tree: { pids: number[]; sids: number[] } | undefined;
  let armed = false;
  const fire = () => {
    if (sentAt !== undefined) return;
    sentAt = performance.now();
    tree = processTree(pid);
    try {
      process.kill(point.group ? -pid : pid, point.signal);
    } catch { /* already gone */ }
  };
  // A run that never reaches its kill point must not hang the suite.
  const guard = setTimeout(() => {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  }, opts.timeoutMs ?? 240_000);
  let poll: NodeJS.Timeout | undefined;
  if (point.when === 'spawn') {
    poll = setInterval(() => {
      if (armed || !(point.ready?.() ?? true)) return;
      armed = true;
      clearInterval(poll);
      setTimeout(fire, point.delayMs ?? 0);
    }, 50);
  }
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d: Buffer) => {
    stderr += d;
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      let e: Event;
      try { e = JSON.parse(l) as Event; } catch { continue; }
      events.push(e);
      if (!armed && point.when !== 'spawn' && point.when(e, events)) {
        armed = true;
        setTimeout(fire, point.delayMs ?? 0);
      }
    }
  });
  return new Promise((res, rej) => {
    p.on('error', rej);
    p.on('close', (code, sig) => {
      clearTimeout(guard);
      clearInterval(poll);
      // IB_REL_REPORT=file collects the figures of every kill point (for the table).
      if (process.env.IB_REL_REPORT) appendFileSync(process.env.IB_REL_REPORT, JSON.stringify({ args: args.slice(0, 3), signal: point.signal, group: !!point.group, delayMs: point.delayMs ?? 0, code, exitSeconds: sentAt === undefined ? null : +((performance.now() - sentAt) / 1000).toFixed(2), lastEvent: events.at(-1) }) + '\n');
      res({ pid, tree, code, signalled: sig !== null, exitSeconds: sentAt === undefined ? undefined : (performance.now() - sentAt) / 1000, events, stderr, stdout });
    });
  });
}

export const isEvent = (name: string, extra: Event = {}) => (e: Event) =>
  e.event === name && Object.entries(extra).every(([k, v]) => e[k] === v);
