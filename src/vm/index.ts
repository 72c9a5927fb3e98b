/**
 * `ib boot`: boot a disk image or ISO in QEMU, wait for a text on the serial console, optionally
 * log in and run commands, and always stop QEMU afterwards. QEMU runs as our child under
 * `setpriv --pdeathsig KILL`, so even a SIGKILLed ib leaves no VM behind.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IbError, UsageError } from '../errors.js';
import { spawn } from '../exec/run.js';
import { debug, emit } from '../log.js';
import { imageInfo } from '../disk/index.js';
import { SerialConsole, ConsoleTimeout, escapeRegExp, tailLines } from './console.js';
import { execInGuest, login, type ExecResult } from './exec.js';
import { OVMF_CODE, OVMF_VARS, pickAccel, qemuArgs, type Accel, type FirmwareKind, type Media } from './qemu-args.js';

export { qemuArgs, pickAccel, OVMF_CODE, OVMF_VARS, type Accel, type FirmwareKind, type Media, type QemuArgsInput } from './qemu-args.js';
export { SerialConsole, tailLines } from './console.js';
export { execInGuest, login, type ExecResult } from './exec.js';

export interface BootOptions {
  image: string;
  firmware?: FirmwareKind;
  /** How the image is attached; default: cdrom for *.iso, disk otherwise. */
  media?: Media;
  /**
   * Prompts to answer before waiting for `expect`, in order: e.g. pick the second GRUB entry with
   * `{ expect: 'GNU GRUB', send: '\x1b[B\r' }` (down arrow, Enter).
   */
  answers?: { expect: string | RegExp; send: string }[];
  /** Text (or pattern) that proves the boot worked. Default `login:`. */
  expect?: string | RegExp;
  timeoutSec?: number;
  accel?: 'auto' | Accel;
  /** Shell commands to run as `user` after logging in on the console. */
  exec?: string;
  execTimeoutSec?: number;
  user?: string;
  password?: string;
  /** Hand the console to the user's terminal after the expect matched (Ctrl-] quits). */
  interactive?: boolean;
  /** Where QEMU writes the complete console log; default a file in a fresh temp dir. */
  log?: string;
  memoryMiB?: number;
  cpus?: number;
  network?: boolean;
}

export interface BootResult {
  /** Seconds from start to the expected text. */
  seconds: number;
  matched: string;
  log: string;
  accel: Accel;
  exec?: ExecResult;
  /** Same as exec.output, for convenience. */
  execOutput?: string;
}

/** The boot failed: the message carries the last console lines; `log` has them all. */
export class BootError extends IbError {
  constructor(message: string, readonly log: string, readonly tail: string, cause?: unknown) {
    super(`${message}\n--- last 40 lines of the console (full log: ${log}) ---\n${tail}`, {
      cause,
      hint: 'read the console log; add --timeout for slow machines, or boot with --interactive to look around',
    });
  }
}

export async function bootImage(opts: BootOptions): Promise<BootResult> {
  if (!existsSync(opts.image)) throw new UsageError(`${opts.image} does not exist`);
  const firmware = opts.firmware ?? 'bios';
  if (firmware !== 'bios' && firmware !== 'uefi') throw new UsageError(`unknown firmware "${String(firmware)}", valid values are bios, uefi`);
  const media = opts.media ?? (opts.image.toLowerCase().endsWith('.iso') ? 'cdrom' : 'disk');
  const { accel, reason } = pickAccel(opts.accel ?? 'auto');
  debug(`accel ${accel}: ${reason}`);
  const format = media === 'cdrom' ? 'raw' : (await imageInfo(opts.image)).format;
  const work = await mkdtemp(join(tmpdir(), 'ib-boot-'));
  const log = opts.log ?? join(work, 'console.log');
  let varsCopy: string | undefined;
  if (firmware === 'uefi') {
    if (!existsSync(OVMF_CODE)) throw new IbError(`${OVMF_CODE} is missing`, { hint: 'install it with: apt-get install -y ovmf' });
    varsCopy = join(work, 'OVMF_VARS.fd');
    await copyFile(OVMF_VARS, varsCopy);
  }
  const args = qemuArgs({
    image: opts.image, format, media, firmware, accel, socket: join(work, 'serial.sock'), log, varsCopy,
    memoryMiB: opts.memoryMiB, cpus: opts.cpus, network: opts.network,
  });
  const t0 = performance.now();
  emit({ event: 'info', message: `booting ${opts.image} (${firmware}, ${media}, ${accel})` });
  const qemu = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-system-x86_64', ...args], { stdout: 'ignore' });
  let exited: string | undefined;
  const exitedP = qemu.done.then(
    () => { exited = 'QEMU exited (the guest powered off or rebooted)'; },
    (e: unknown) => { exited = `QEMU failed: ${(e as Error).message}`; },
  );
  let con: SerialConsole | undefined;
  const timeoutMs = (opts.timeoutSec ?? 300) * 1000;
  const expect = opts.expect ?? 'login:';
  try {
    con = await SerialConsole.connect(join(work, 'serial.sock'), 30_000, () => exited === undefined).catch(async (e) => {
      await Promise.race([exitedP, new Promise((r) => setTimeout(r, 500))]);
      throw exited ? new IbError(exited) : e;
    });
    void exitedP.then(() => con?.close(exited ?? 'QEMU exited'));
    for (const a of opts.answers ?? []) {
      await con.expect(typeof a.expect === 'string' ? new RegExp(escapeRegExp(a.expect)) : a.expect, timeoutMs);
      con.type(a.send);
    }
    const m = await con.expect(typeof expect === 'string' ? new RegExp(escapeRegExp(expect)) : expect, timeoutMs);
    const seconds = (performance.now() - t0) / 1000;
    emit({ event: 'info', message: `reached ${JSON.stringify(m.match)} after ${seconds.toFixed(1)}s` });
    const result: BootResult = { seconds, matched: m.match, log, accel };
    if (opts.exec !== undefined) {
      if (!/login:/.test(m.match)) await con.expect(/login:/, timeoutMs);
      await login(con, { user: opts.user, password: opts.password });
      result.exec = await execInGuest(con, opts.exec, (opts.execTimeoutSec ?? 120) * 1000);
      result.execOutput = result.exec.output;
    }
    if (opts.interactive) await interact(con);
    return result;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const why = e instanceof ConsoleTimeout
      ? `${opts.image} did not reach ${JSON.stringify(String(expect))} within ${opts.timeoutSec ?? 300} s`
      : `booting ${opts.image} failed: ${(e as Error).message}`;
    throw new BootError(why, log, tailLines(con?.output ?? ''), e);
  } finally {
    con?.end();
    qemu.kill();
    await Promise.race([exitedP, new Promise((r) => setTimeout(r, 5000))]);
    // Keep the log: the result and errors point at it.
    await rm(join(work, 'serial.sock'), { force: true });
    if (varsCopy) await rm(varsCopy, { force: true });
    if (opts.log) await rm(work, { recursive: true, force: true });
  }
}

/** Connect the user's terminal to the console until Ctrl-] or QEMU's exit. */
async function interact(con: SerialConsole): Promise<void> {
  const stdin = process.stdin;
  process.stderr.write('[connected to the serial console; press Ctrl-] to quit]\n');
  process.stdout.write(con.output.slice(-2000));
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      if (d.includes(0x1d)) return finish();
      con.socket.write(d);
    };
    const onOut = (d: string) => process.stdout.write(d);
    const finish = () => {
      stdin.off('data', onData);
      con.socket.off('data', onOut);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      resolve();
    };
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
    con.socket.on('data', onOut);
    con.socket.once('close', finish);
  });
}
