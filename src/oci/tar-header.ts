/**
 * ustar + PAX header codec, byte-exact. ib writes and reads tar itself instead of relying on
 * tar-stream 3.2.2, whose PAX codec decodes and encodes values as UTF-8: a binary xattr such as
 * `security.capability` (file capabilities of /bin/ping) comes out corrupted, and GNU tar still
 * exits 0 after failing to restore it.
 *
 * Paths are "byte strings": JS strings with one char per byte (latin1), so any file name Linux
 * allows survives, `<` compares in byte order, and `Buffer.from(s, 'latin1')` gives the bytes back.
 */
import type { Xattrs } from '../exec/xattr.js';

export type TarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  /** Byte string, no leading `./`; directories without the trailing `/`. */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** Body length; only regular files have one. */
  size: number;
  /** Seconds since the epoch (fractional when read from a PAX `mtime`). */
  mtime: number;
  /** Byte string: symlink target or hard-link target path. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Xattrs;
}

export const BLOCK = 512;
const XATTR_PREFIX = 'SCHILY.xattr.';
const LIBARCHIVE_XATTR = 'LIBARCHIVE.xattr.';

const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A byte string for people: decoded as UTF-8. */
export function display(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

// ---------------------------------------------------------------- writing

function octal(buf: Buffer, off: number, width: number, value: number): void {
  const s = Math.trunc(value).toString(8).padStart(width - 1, '0');
  buf.write(s, off, width - 1, 'latin1');
  buf[off + width - 1] = 0;
}

function fits(value: number, width: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (width - 1);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  // The length prefix counts its own digits: grow it until it is stable.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/** PAX records, keys sorted so that the same entry always gives the same bytes. */
export function encodePax(records: Map<string, Buffer>): Buffer {
  const keys = [...records.keys()].sort();
  return Buffer.concat(keys.map((k) => paxRecord(k, records.get(k)!)));
}

function ustarBlock(h: { name: Buffer; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname?: Buffer; devmajor?: number; devminor?: number }): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0, 0, Math.min(100, h.name.length));
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, fits(h.uid, 8) ? h.uid : 0);
  octal(b, 116, 8, fits(h.gid, 8) ? h.gid : 0);
  octal(b, 124, 12, fits(h.size, 12) ? h.size : 0);
  octal(b, 136, 12, fits(h.mtime, 12) ? h.mtime : 0);
  b.write(h.typeflag, 156, 1, 'latin1');
  if (h.linkname) h.linkname.copy(b, 157, 0, Math.min(100, h.linkname.length));
  b.write('ustar\x0000', 257, 8, 'latin1');
  octal(b, 329, 8, h.devmajor ?? 0);
  octal(b, 337, 8, h.devminor ?? 0);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\x00 ', 148, 8, 'latin1');
  return b;
}

function basenameBytes(name: Buffer): Buffer {
  const i = name.lastIndexOf(0x2f);
  return i < 0 ? name : name.subarray(i + 1);
}

/**
 * The header block(s) of one entry: a PAX `x` header when a value does not fit ustar (long
 * names, sizes ≥ 8 GiB, ids ≥ 2^21) or the entry has xattrs, then the ustar header.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = bytes(h.type === 'dir' ? h.name + '/' : h.name);
  const linkname = h.linkname === undefined ? undefined : bytes(h.linkname);
  const mtime = Math.max(0, Math.trunc(h.mtime));
  const size = h.type === 'file' ? h.size : 0;
  const pax = new Map<string, Buffer>();
  if (name.length > 100) pax.set('path', name);
  if (linkname && linkname.length > 100) pax.set('linkpath', linkname);
  if (!fits(size, 12)) pax.set('size', Buffer.from(String(size)));
  if (!fits(h.uid, 8)) pax.set('uid', Buffer.from(String(h.uid)));
  if (!fits(h.gid, 8)) pax.set('gid', Buffer.from(String(h.gid)));
  if (!fits(mtime, 12)) pax.set('mtime', Buffer.from(String(mtime)));
  for (const [k, v] of Object.entries(h.xattrs ?? {})) pax.set(XATTR_PREFIX + k, v);
  for (const n of [h.devmajor ?? 0, h.devminor ?? 0]) {
    if (!fits(n, 8)) throw new Error(`device number ${n} of ${display(h.name)} does not fit a tar header`);
  }
  const main = ustarBlock({
    name, typeflag: TYPEFLAG[h.type], mode: h.mode, uid: h.uid, gid: h.gid, size, mtime, linkname,
    devmajor: h.devmajor, devminor: h.devminor,
  });
  if (pax.size === 0) return main;
  const data = encodePax(pax);
  const paxName = Buffer.concat([Buffer.from('PaxHeaders/'), basenameBytes(name)]).subarray(0, 100);
  const paxHead = ustarBlock({ name: paxName, typeflag: 'x', mode: 0o644, uid: 0, gid: 0, size: data.length, mtime });
  return Buffer.concat([paxHead, data, Buffer.alloc(padding(data.length)), main]);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

// ---------------------------------------------------------------- reading

export class TarFormatError extends Error {
  /** The member the problem is about, when there is one. */
  constructor(message: string, readonly member?: string) {
    super(message);
  }
}

function cstr(b: Buffer, off: number, len: number): Buffer {
  const f = b.subarray(off, off + len);
  const nul = f.indexOf(0);
  return nul < 0 ? f : f.subarray(0, nul);
}

/** Octal (NUL/space padded) or GNU base-256; negative base-256 values are returned as negative. */
export function parseNumber(b: Buffer, off: number, len: number, field: string): number {
  const f = b.subarray(off, off + len);
  if (f[0]! & 0x80) {
    // Base-256: big-endian two's complement over the whole field, with the marker bit 0x80 set.
    let v = 0n;
    for (let i = 0; i < f.length; i++) v = (v << 8n) | BigInt(i === 0 ? f[i]! & 0x7f : f[i]!);
    if (f[0]! & 0x40) v -= 1n << BigInt(8 * f.length - 1);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TarFormatError(`${field} is out of range`);
    }
    return Number(v);
  }
  const s = f.toString('latin1').replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`${field} is not an octal number: ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

export interface RawHeader {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decode one 512-byte header block; throws TarFormatError on a bad checksum or field. */
export function decodeBlock(b: Buffer): RawHeader {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  const want = parseNumber(b, 148, 8, 'checksum');
  if (want !== unsigned && want !== signed) throw new TarFormatError('header checksum mismatch (not a tar archive, or corrupt)');
  const magic = b.toString('latin1', 257, 263);
  let name = cstr(b, 0, 100).toString('latin1');
  if (magic === 'ustar\0') {
    const prefix = cstr(b, 345, 155).toString('latin1');
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    typeflag: b.toString('latin1', 156, 157),
    mode: parseNumber(b, 100, 8, 'mode'),
    uid: parseNumber(b, 108, 8, 'uid'),
    gid: parseNumber(b, 116, 8, 'gid'),
    size: parseNumber(b, 124, 12, 'size'),
    mtime: parseNumber(b, 136, 12, 'mtime'),
    linkname: cstr(b, 157, 100).toString('latin1'),
    devmajor: magic.startsWith('ustar') ? parseNumber(b, 329, 8, 'devmajor') : 0,
    devminor: magic.startsWith('ustar') ? parseNumber(b, 337, 8, 'devminor') : 0,
  };
}

/**
 * Parse PAX records byte-exactly: `"<len> <key>=<value>\n"`, where len counts the whole record.
 * Values stay Buffers; keys are UTF-8.
 */
export function decodePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break; // NUL padding after the last record
    const sp = data.indexOf(0x20, off);
    if (sp < 0 || sp - off > 20) throw new TarFormatError('malformed PAX record length');
    const lenStr = data.toString('latin1', off, sp);
    if (!/^[1-9][0-9]*$/.test(lenStr)) throw new TarFormatError(`malformed PAX record length ${JSON.stringify(lenStr)}`);
    const len = Number(lenStr);
    const end = off + len;
    if (end > data.length || len < lenStr.length + 3) throw new TarFormatError('PAX record runs past its header');
    if (data[end - 1] !== 0x0a) throw new TarFormatError('PAX record does not end with a newline');
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end - 1) throw new TarFormatError('PAX record has no "="');
    out.set(data.toString('utf8', sp + 1, eq), Buffer.from(data.subarray(eq + 1, end - 1)));
    off = end;
  }
  return out;
}

/** Pull the xattrs out of PAX records (SCHILY as GNU tar and Go write them; libarchive's too). */
export function paxXattrs(pax: Map<string, Buffer>): Xattrs | undefined {
  let out: Xattrs | undefined;
  for (const [k, v] of pax) {
    if (k.startsWith(XATTR_PREFIX)) (out ??= {})[k.slice(XATTR_PREFIX.length)] = v;
    else if (k.startsWith(LIBARCHIVE_XATTR)) {
      (out ??= {})[decodeURIComponent(k.slice(LIBARCHIVE_XATTR.length))] = Buffer.from(v.toString('latin1'), 'base64');
    }
  }
  return out;
}

/** A decimal PAX number (`size`, `uid`, `mtime` may be fractional). */
export function paxNumber(v: Buffer, key: string, fractional = false): number {
  const s = v.toString('latin1');
  const re = fractional ? /^-?[0-9]{1,16}(\.[0-9]{1,9})?$/ : /^[0-9]{1,16}$/;
  if (!re.test(s)) throw new TarFormatError(`PAX ${key} is not a valid number: ${JSON.stringify(s.slice(0, 40))}`);
  const n = Number(s);
  if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) throw new TarFormatError(`PAX ${key} is out of range`);
  return n;
}
