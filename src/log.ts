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

function write(line: string): void {
  process.stderr.write(line + '\n');
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
