/**
 * A streaming tar reader: ustar, PAX (`x`; `g` is skipped) with byte-exact values, GNU long
 * names (`L`/`K`). Each entry's body is an async iterable that must be drained (or is skipped)
 * before the next entry is read. Limits keep hostile archives from exhausting memory.
 */
import {
  BLOCK, TarFormatError, decodeBlock, decodePax, isZeroBlock, padding, paxNumber, paxXattrs,
  type TarHeader, type TarType,
} from './tar-header.js';

export interface TarReadEntry {
  header: TarHeader;
  /** Only regular files have a body. */
  body: AsyncIterable<Buffer>;
}

export interface TarReadOptions {
  /** Largest PAX or GNU long-name header accepted (default 1 MiB). */
  maxMetaBytes?: number;
  /** Largest file body accepted; a bigger size field is refused before any byte is read. */
  maxEntryBytes?: number;
}

const TYPES: Record<string, TarType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

/** Pulls exact byte counts out of a chunked stream. */
export class ByteSource {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  private done = false;
  /** Bytes handed out so far (the archive offset). */
  position = 0;

  constructor(src: AsyncIterable<Buffer>) {
    this.it = src[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    this.buf = this.off < this.buf.length ? Buffer.concat([this.buf.subarray(this.off), chunk]) : chunk;
    this.off = 0;
    return true;
  }

  /** Exactly n bytes; null at a clean end of stream; throws if the stream ends midway. */
  async read(n: number): Promise<Buffer | null> {
    while (this.buf.length - this.off < n) {
      if (!(await this.fill())) {
        if (this.buf.length === this.off) return null;
        throw new TarFormatError('unexpected end of archive');
      }
    }
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.position += n;
    return out;
  }

  /** Up to n bytes in the chunks they arrive in. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.off >= this.buf.length && !(await this.fill())) throw new TarFormatError('unexpected end of archive');
      const take = Math.min(left, this.buf.length - this.off);
      const out = this.buf.subarray(this.off, this.off + take);
      this.off += take;
      this.position += take;
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n)) void _;
  }

  /** Consume everything that is left (trailing blocks still count for the diffID). */
  async drain(): Promise<void> {
    this.off = this.buf.length;
    while (await this.fill()) this.off = this.buf.length;
  }
}

function collect(parts: Buffer[]): Buffer {
  return Buffer.concat(parts);
}

export async function* readTar(src: AsyncIterable<Buffer>, opts: TarReadOptions = {}): AsyncGenerator<TarReadEntry> {
  const maxMeta = opts.maxMetaBytes ?? 1024 * 1024;
  const s = new ByteSource(src);
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await s.read(BLOCK);
    if (block === null) break; // no end marker: tolerated, as GNU tar does
    if (isZeroBlock(block)) {
      await s.drain();
      break;
    }
    const at = s.position - BLOCK;
    let raw;
    try {
      raw = decodeBlock(block);
    } catch (e) {
      throw new TarFormatError(`bad tar header at offset ${at}: ${(e as Error).message}`);
    }
    if (raw.size < 0) throw new TarFormatError('has a negative size', raw.name);
    const meta = async (): Promise<Buffer> => {
      if (raw.size > maxMeta) throw new TarFormatError(`a ${raw.size}-byte metadata header at offset ${at} is larger than the ${maxMeta}-byte limit`);
      const parts: Buffer[] = [];
      for await (const c of s.chunks(raw.size)) parts.push(Buffer.from(c));
      await s.skip(padding(raw.size));
      return collect(parts);
    };
    switch (raw.typeflag) {
      case 'x': {
        const records = decodePax(await meta());
        pax = pax ? new Map([...pax, ...records]) : records;
        continue;
      }
      case 'g':
        await meta(); // global headers: nothing ib writes or needs
        continue;
      case 'L':
        longName = (await meta()).toString('latin1').replace(/\0+$/, '');
        continue;
      case 'K':
        longLink = (await meta()).toString('latin1').replace(/\0+$/, '');
        continue;
    }
    const type = TYPES[raw.typeflag];
    if (!type) throw new TarFormatError(`has the unsupported tar type ${JSON.stringify(raw.typeflag)}`, longName ?? pax?.get('path')?.toString('latin1') ?? raw.name);
    let size = type === 'file' ? raw.size : 0;
    const header: TarHeader = {
      name: longName ?? raw.name,
      type,
      mode: raw.mode,
      uid: raw.uid,
      gid: raw.gid,
      size,
      mtime: raw.mtime,
      linkname: longLink ?? raw.linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
    };
    if (pax) {
      const p = pax;
      const get = (k: string) => p.get(k);
      if (get('path')) header.name = get('path')!.toString('latin1');
      if (get('linkpath')) header.linkname = get('linkpath')!.toString('latin1');
      if (get('uid')) header.uid = paxNumber(get('uid')!, 'uid');
      if (get('gid')) header.gid = paxNumber(get('gid')!, 'gid');
      if (get('mtime')) header.mtime = paxNumber(get('mtime')!, 'mtime', true);
      if (get('size') && type === 'file') header.size = size = paxNumber(get('size')!, 'size');
      header.xattrs = paxXattrs(p);
    }
    if (size > (opts.maxEntryBytes ?? Number.MAX_SAFE_INTEGER)) {
      throw new TarFormatError(`claims ${size} bytes, more than the limit of ${opts.maxEntryBytes} bytes`, header.name);
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    if (type === 'dir') header.name = header.name.replace(/\/+$/, '');
    if (type !== 'link' && type !== 'symlink') delete header.linkname;
    // Header-only types carry no body whatever their size field says (as Go's archive/tar).
    const dataLen = type === 'file' ? size : 0;
    let consumed = 0;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: async function* () {
        for await (const c of s.chunks(dataLen - consumed)) {
          consumed += c.length;
          yield c;
        }
      },
    };
    yield { header, body };
    if (consumed < dataLen) await s.skip(dataLen - consumed);
    await s.skip(padding(dataLen));
  }
}
