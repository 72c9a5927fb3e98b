/**
 * The few GVariant shapes an ostree repository is made of (commit, dirtree, dirmeta, the archive
 * file header, bare-user's `user.ostreemeta`), decoded from their serialized bytes.
 * https://docs.gtk.org/glib/gvariant-format-strings.html and the GVariant serialisation paper.
 * Reading objects directly is what makes encapsulation fast: `ostree ls -R` plus `ostree cat`
 * per file would be one process per object (15k of them for debian-minimal).
 * ostree stores the integers inside its objects big-endian (GUINT32_TO_BE), while GVariant's own
 * framing offsets are little-endian: decoders take `bigEndian` for the former.
 */
export type GValue = number | bigint | boolean | string | Buffer | null | GValue[] | GVariantValue;
export interface GVariantValue {
  type: string;
  value: GValue;
}

/** Length of the first complete type at `i` in a type string. */
function typeEnd(t: string, i: number): number {
  const c = t[i];
  if (c === undefined) throw new Error(`bad GVariant type "${t}"`);
  if (c === 'a' || c === 'm') return typeEnd(t, i + 1);
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}';
    let j = i + 1;
    while (t[j] !== close) {
      if (j >= t.length) throw new Error(`bad GVariant type "${t}"`);
      j = typeEnd(t, j);
    }
    return j + 1;
  }
  return i + 1;
}

/** The member types of a tuple or dict-entry type. */
function members(t: string): string[] {
  const out: string[] = [];
  let i = 1;
  while (i < t.length - 1) {
    const e = typeEnd(t, i);
    out.push(t.slice(i, e));
    i = e;
  }
  return out;
}

const BASIC_SIZE: Record<string, number> = { y: 1, b: 1, n: 2, q: 2, i: 4, u: 4, h: 4, x: 8, t: 8, d: 8 };

export function alignOf(t: string): number {
  const c = t[0]!;
  if (c in BASIC_SIZE) return BASIC_SIZE[c]!;
  if (c === 'v') return 8;
  if (c === 'a' || c === 'm') return alignOf(t.slice(1));
  if (c === '(' || c === '{') return Math.max(1, ...members(t).map(alignOf));
  return 1; // s o g
}

const align = (n: number, a: number) => (n + a - 1) & ~(a - 1);

/** Size of a fixed-size type, or undefined when its size varies. */
export function fixedSize(t: string): number | undefined {
  const c = t[0]!;
  if (c in BASIC_SIZE) return BASIC_SIZE[c]!;
  if (c === '(' || c === '{') {
    const ms = members(t);
    if (ms.length === 0) return 1;
    let pos = 0;
    for (const m of ms) {
      const fs = fixedSize(m);
      if (fs === undefined) return undefined;
      pos = align(pos, alignOf(m)) + fs;
    }
    return align(pos, alignOf(t));
  }
  return undefined;
}

function offsetSize(containerSize: number): number {
  if (containerSize === 0) return 0;
  if (containerSize <= 0xff) return 1;
  if (containerSize <= 0xffff) return 2;
  if (containerSize <= 0xffffffff) return 4;
  return 8;
}

function readOffset(buf: Buffer, at: number, size: number): number {
  switch (size) {
    case 1: return buf[at]!;
    case 2: return buf.readUInt16LE(at);
    case 4: return buf.readUInt32LE(at);
    default: return Number(buf.readBigUInt64LE(at));
  }
}

export interface DecodeOptions {
  /** Integers were stored byte-swapped to big-endian, as ostree does for its own fields. */
  bigEndian?: boolean;
}

/** Decode serialized GVariant bytes of type `t`. */
export function decode(t: string, buf: Buffer, opts: DecodeOptions = {}): GValue {
  const be = opts.bigEndian ?? false;
  const c = t[0]!;
  const fs = fixedSize(t);
  // A fixed-size value of the wrong size is "not in normal form": GVariant reads it as zeros.
  if (fs !== undefined && buf.length !== fs) buf = Buffer.alloc(fs);
  switch (c) {
    case 'y': return buf[0]!;
    case 'b': return buf[0] !== 0;
    case 'n': return be ? buf.readInt16BE(0) : buf.readInt16LE(0);
    case 'q': return be ? buf.readUInt16BE(0) : buf.readUInt16LE(0);
    case 'i': case 'h': return be ? buf.readInt32BE(0) : buf.readInt32LE(0);
    case 'u': return be ? buf.readUInt32BE(0) : buf.readUInt32LE(0);
    case 'x': return be ? buf.readBigInt64BE(0) : buf.readBigInt64LE(0);
    case 't': return be ? buf.readBigUInt64BE(0) : buf.readBigUInt64LE(0);
    case 'd': return be ? buf.readDoubleBE(0) : buf.readDoubleLE(0);
    case 's': case 'o': case 'g':
      return buf.length === 0 ? '' : buf.subarray(0, buf.length - 1).toString('utf8');
    case 'v': {
      const nul = buf.lastIndexOf(0);
      if (nul < 0) return { type: '()', value: [] };
      const vt = buf.subarray(nul + 1).toString('latin1');
      return { type: vt, value: decode(vt, buf.subarray(0, nul), opts) };
    }
    case 'm': {
      const inner = t.slice(1);
      if (buf.length === 0) return null;
      return decode(inner, fixedSize(inner) === undefined ? buf.subarray(0, buf.length - 1) : buf, opts);
    }
    case 'a': {
      const et = t.slice(1);
      if (et === 'y') return buf;
      return decodeArray(et, buf, opts);
    }
    case '(': case '{':
      return decodeTuple(members(t), buf, opts);
    default:
      throw new Error(`unsupported GVariant type "${t}"`);
  }
}

function decodeArray(et: string, buf: Buffer, opts: DecodeOptions): GValue[] {
  const out: GValue[] = [];
  if (buf.length === 0) return out;
  const fs = fixedSize(et);
  if (fs !== undefined) {
    for (let p = 0; p + fs <= buf.length; p += fs) out.push(decode(et, buf.subarray(p, p + fs), opts));
    return out;
  }
  const os = offsetSize(buf.length);
  const tableStart = readOffset(buf, buf.length - os, os);
  const n = (buf.length - tableStart) / os;
  const ea = alignOf(et);
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = readOffset(buf, tableStart + i * os, os);
    out.push(decode(et, buf.subarray(start, end), opts));
    start = align(end, ea);
  }
  return out;
}

function decodeTuple(ms: string[], buf: Buffer, opts: DecodeOptions): GValue[] {
  const out: GValue[] = [];
  const os = offsetSize(buf.length);
  let framingEnd = buf.length;
  let pos = 0;
  ms.forEach((m, i) => {
    pos = align(pos, alignOf(m));
    const fs = fixedSize(m);
    let end: number;
    if (fs !== undefined) end = pos + fs;
    else if (i === ms.length - 1) end = framingEnd;
    else {
      framingEnd -= os;
      end = readOffset(buf, framingEnd, os);
    }
    out.push(decode(m, buf.subarray(pos, end), opts));
    pos = end;
  });
  return out;
}

/**
 * Serialize an ostree xattr list `a(ayay)`: names are bytestrings that keep their NUL (as
 * libostree stores them), values raw bytes, sorted by name as libostree canonicalises them.
 */
export function encodeXattrs(xattrs: Record<string, Buffer>): Buffer {
  const names = Object.keys(xattrs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (names.length === 0) return Buffer.alloc(0);
  const elems = names.map((n) => encodeTuple2(Buffer.concat([Buffer.from(n, 'utf8'), Buffer.from([0])]), xattrs[n]!));
  return encodeVarArray(elems);
}

/** `(ayay)`: first member, second member, then the first member's end as one framing offset. */
function encodeTuple2(a: Buffer, b: Buffer): Buffer {
  const body = a.length + b.length;
  let os = 1;
  while (offsetSize(body + os) > os) os *= 2;
  const off = Buffer.alloc(os);
  writeOffset(off, 0, os, a.length);
  return Buffer.concat([a, b, off]);
}

/** An array of variable-size, 1-aligned elements followed by the table of their end offsets. */
function encodeVarArray(elems: Buffer[]): Buffer {
  const body = elems.reduce((s, e) => s + e.length, 0);
  let os = 1;
  while (offsetSize(body + elems.length * os) > os) os *= 2;
  const table = Buffer.alloc(elems.length * os);
  let end = 0;
  elems.forEach((e, i) => {
    end += e.length;
    writeOffset(table, i * os, os, end);
  });
  return Buffer.concat([...elems, table]);
}

function writeOffset(buf: Buffer, at: number, size: number, v: number): void {
  if (size === 1) buf[at] = v;
  else if (size === 2) buf.writeUInt16LE(v, at);
  else if (size === 4) buf.writeUInt32LE(v, at);
  else buf.writeBigUInt64LE(BigInt(v), at);
}
