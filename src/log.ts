import cliProgress from 'cli-progress';

/**
 * Progress and logs go to stderr; results go to stdout. With `--json` every event is one JSON
 * object per line on stderr, so CI systems and tests can follow a build.
 */
export type IbEvent =
  | { event: 'step-started'; step: string; key: string; kind: string }
  | { event: 'step-finished'; step: string; key: string; seconds: number; layer?: string; bytes?: number }
  | { event: 'step-cached'; step: string; key: string; layer?: string }
  | { event: 'blob-pushed'; digest: string; bytes: number; skipped?: boolean; mounted?: boolean }
  | { event: 'blob-pulled'; digest: string; bytes: number; cached?: boolean }
  | { event: 'progress'; what: string; done: number; total?: number }
  | { event: 'image'; ref?: string; digest: string }
  | { event: 'phase'; name: string; state: 'started' | 'finished'; seconds?: number }
  | { event: 'warning'; message: string }
  | { event: 'info'; message: string };

export interface Logger {
  json: boolean;
  quiet: boolean;
  debug: boolean;
}

export const logger: Logger = { json: false, quiet: false, debug: false };

const color = !process.env.NO_COLOR && process.stderr.isTTY;
const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s);
const yellow = (s: string) => (color ? `\x1b[33m${s}\x1b[0m` : s);

// Byte progress bars on a terminal (one per blob or long task); plain lines elsewhere.
let bars: cliProgress.MultiBar | undefined;
const active = new Map<string, cliProgress.SingleBar>();

function write(line: string): void {
  if (bars && active.size > 0) bars.log(line + '\n');
  else process.stderr.write(line + '\n');
}

function progress(what: string, done: number, total?: number): void {
  if (!process.stderr.isTTY || !total) return;
  bars ??= new cliProgress.MultiBar({
    stream: process.stderr, hideCursor: true, clearOnComplete: true, stopOnComplete: false, fps: 5,
    format: '    {what} [{bar}] {percentage}% {size}', barsize: 30,
  }, cliProgress.Presets.shades_classic);
  let bar = active.get(what);
  const label = what.length > 30 ? `${what.slice(0, 16)}…${what.slice(-12)}` : what;
  if (!bar) {
    bar = bars.create(total, 0, { what: label.padEnd(30), size: formatBytes(total) });
    active.set(what, bar);
  }
  bar.update(Math.min(done, total), { what: label.padEnd(30), size: formatBytes(total) });
  if (done >= total) {
    bars.remove(bar);
    active.delete(what);
    if (active.size === 0) {
      bars.stop();
      bars = undefined;
    }
  }
}

export function emit(ev: IbEvent): void {
  if (logger.json) {
    write(JSON.stringify({ ts: Date.now() / 1000, ...ev }));
    return;
  }
  if (logger.quiet && ev.event !== 'warning') return;
  switch (ev.event) {
    case 'step-started':
      write(`==> ${ev.step} ${dim(ev.key.slice(0, 19))}`);
      break;
    case 'step-finished':
      write(`    ${ev.step} done in ${ev.seconds.toFixed(1)}s${ev.layer ? ` → ${ev.layer.slice(0, 19)} (${formatBytes(ev.bytes ?? 0)})` : ''}`);
      break;
    case 'step-cached':
      write(`==> ${ev.step} ${dim('cached')}${ev.layer ? ` ${dim(ev.layer.slice(0, 19))}` : ''}`);
      break;
    case 'blob-pushed':
      write(`    blob ${ev.digest.slice(0, 19)} ${ev.skipped ? 'exists' : ev.mounted ? 'mounted' : formatBytes(ev.bytes)}`);
      break;
    case 'blob-pulled':
      write(`    blob ${ev.digest.slice(0, 19)} ${ev.cached ? 'cached' : formatBytes(ev.bytes)}`);
      break;
    case 'progress':
      progress(ev.what, ev.done, ev.total);
      break;
    case 'image':
      write(`image ${ev.ref ?? ''} ${ev.digest}`.replace('  ', ' '));
      break;
    case 'phase':
      if (ev.state === 'finished') write(`    ${ev.name} ${dim(`${(ev.seconds ?? 0).toFixed(1)}s`)}`);
      else write(`--> ${ev.name}`);
      break;
    case 'warning':
      write(yellow(`warning: ${ev.message}`));
      break;
    case 'info':
      write(ev.message);
      break;
  }
}

export function debug(msg: string): void {
  if (logger.debug) write(dim(msg));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Time a phase and emit started/finished events around it. */
export async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  emit({ event: 'phase', name, state: 'started' });
  const out = await fn();
  emit({ event: 'phase', name, state: 'finished', seconds: (performance.now() - t0) / 1000 });
  return out;
}
