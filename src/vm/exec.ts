/**
 * Log in on the serial console and run shell commands, returning their output and exit status.
 * The commands travel base64-encoded (no tty line editing or special keys can mangle them) and
 * the output is framed by markers the typed line cannot contain: the line says
 * `printf '%s_%s\n' IBSTART <nonce>`, only the output says `IBSTART_<nonce>`.
 */
import { randomBytes } from 'node:crypto';
import { IbError } from '../errors.js';
import type { SerialConsole } from './console.js';

export interface ExecResult {
  output: string;
  exitCode: number;
}

export interface LoginOptions {
  user?: string;
  password?: string;
  timeoutMs?: number;
}

/** The tty's canonical mode drops input lines past 4095 bytes; stay well below. */
const CHUNK = 1000;

/** Call right after `login:` was seen. Leaves the console at a shell prompt. */
export async function login(con: SerialConsole, opts: LoginOptions = {}): Promise<void> {
  const timeout = opts.timeoutMs ?? 60_000;
  con.type(`${opts.user ?? 'root'}\r`);
  const p = await con.expect(/Password:\s*$|[#$] $/m, timeout);
  if (p.match.startsWith('Password')) con.type(`${opts.password ?? 'root'}\r`);
  const r = await con.expect(/Login incorrect|[#$] $/m, timeout);
  if (r.match === 'Login incorrect') {
    throw new IbError(`logging in as ${opts.user ?? 'root'} on the serial console failed: Login incorrect`, {
      hint: 'pass the right password (--password) or set one in the image',
    });
  }
}

/** Run `commands` (a shell script) as the logged-in user. */
export async function execInGuest(con: SerialConsole, commands: string, timeoutMs: number): Promise<ExecResult> {
  const nonce = randomBytes(6).toString('hex');
  const file = `/tmp/.ib-exec-${nonce}`;
  const b64 = Buffer.from(commands.endsWith('\n') ? commands : `${commands}\n`).toString('base64');
  // Quiet kernel messages so they do not land in the middle of the output.
  con.type(`dmesg -n 1 2>/dev/null; : > ${file}.b64\r`);
  for (let i = 0; i < b64.length; i += CHUNK) {
    con.type(`printf %s ${b64.slice(i, i + CHUNK)} >> ${file}.b64\r`);
  }
  con.type(
    `base64 -d ${file}.b64 > ${file} && printf '%s_%s\\n' IBSTART ${nonce}; ` +
      `"$(command -v bash || echo sh)" ${file} 2>&1; printf '%s_%s:%d\\n' IBEND ${nonce} $?\r`,
  );
  await con.expect(new RegExp(`IBSTART_${nonce}\\r?\\n`), 30_000);
  const end = await con.expect(new RegExp(`IBEND_${nonce}:(\\d+)`), timeoutMs);
  return { output: end.before.replace(/\r\n/g, '\n'), exitCode: Number(end.groups[0]) };
}
