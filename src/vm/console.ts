/**
 * The guest's serial console over QEMU's unix socket: everything the guest prints accumulates in
 * a buffer, `expect` waits for a pattern after the last match (like expect(1)), `type` sends keys.
 * A wait ends early when QEMU exits or the kernel panics, so a broken image fails in seconds, not
 * at the timeout.
 */
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { IbError } from '../errors.js';

const PANIC = /Kernel panic - not syncing[^\n]*/;

export class ConsoleClosed extends IbError {}

export class SerialConsole {
  private text = '';
  private mark = 0;
  private waiters = new Set<() => void>();
  private closedWhy: string | undefined;

  private constructor(private readonly sock: Socket) {
    // utf8 through a StringDecoder: a multi-byte character split across two reads stays whole.
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.text += d;
      this.wake();
    });
    sock.on('close', () => this.close('the console socket closed'));
    sock.on('error', () => undefined);
  }

  /** Connect, retrying while QEMU creates the socket. */
  static async connect(path: string, timeoutMs: number, alive: () => boolean): Promise<SerialConsole> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sock = await new Promise<Socket | undefined>((resolve) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
      if (sock) return new SerialConsole(sock);
      if (!alive()) throw new ConsoleClosed('QEMU exited before its serial console was ready');
      if (Date.now() > deadline) throw new IbError(`could not connect to QEMU's serial console at ${path}`);
      await sleep(50);
    }
  }

  /** Mark the console dead (QEMU exited); pending waits fail with `why`. */
  close(why: string): void {
    this.closedWhy ??= why;
    this.wake();
  }

  get output(): string {
    return this.text;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Wait for `pattern` after the previous match; returns the matched text and what came before it. */
  async expect(pattern: string | RegExp, timeoutMs: number): Promise<{ match: string; before: string; groups: string[] }> {
    const re = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.text.slice(this.mark);
      const m = re.exec(rest);
      if (m) {
        this.mark += m.index + m[0].length;
        return { match: m[0], before: rest.slice(0, m.index), groups: m.slice(1).map((g) => g ?? '') };
      }
      const panic = PANIC.exec(rest);
      if (panic) throw new ConsoleClosed(`the guest kernel panicked: ${panic[0].trim()}`);
      if (this.closedWhy) throw new ConsoleClosed(this.closedWhy);
      const left = deadline - Date.now();
      if (left <= 0) throw new ConsoleTimeout(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${re}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /** Type text into the console. */
  type(s: string): void {
    this.sock.write(s, 'latin1');
  }

  /** The raw socket, for interactive use. */
  get socket(): Socket {
    return this.sock;
  }

  end(): void {
    this.sock.destroy();
  }
}

export class ConsoleTimeout extends IbError {}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The last `n` lines of console text, without ANSI colour codes and carriage returns. */
export function tailLines(text: string, n = 40): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
  return clean.trimEnd().split('\n').slice(-n).join('\n');
}
