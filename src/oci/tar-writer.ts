/**
 * A streaming tar writer: entries in, a Readable of tar bytes out, pulled at the consumer's pace
 * (a 700 MB layer never sits in memory). Small headers are batched into 64 KiB chunks so that
 * piping into pigz is not one syscall per 512-byte block.
 */
import { Readable } from 'node:stream';
import { BLOCK, encodeHeader, padding, type TarHeader } from './tar-header.js';

export interface TarWriteEntry {
  header: TarHeader;
  /** The body of a regular file: exactly `header.size` bytes, or the writer throws. */
  body?: () => AsyncIterable<Buffer>;
}

const BATCH = 64 * 1024;

async function* tarChunks(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const push = (b: Buffer) => {
    pending.push(b);
    pendingBytes += b.length;
  };
  const flush = (): Buffer | undefined => {
    if (pendingBytes === 0) return undefined;
    const out = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const e of entries) {
    push(encodeHeader(e.header));
    if (e.header.type === 'file' && e.header.size > 0) {
      if (!e.body) throw new Error(`tar entry ${e.header.name} has size ${e.header.size} but no body`);
      let written = 0;
      for await (const chunk of e.body()) {
        written += chunk.length;
        if (written > e.header.size) throw new Error(`${e.header.name} grew while it was being archived`);
        if (chunk.length >= BATCH) {
          const f = flush();
          if (f) yield f;
          yield chunk;
        } else {
          push(chunk);
          if (pendingBytes >= BATCH) yield flush()!;
        }
      }
      if (written !== e.header.size) throw new Error(`${e.header.name} shrank while it was being archived`);
      const pad = padding(e.header.size);
      if (pad) push(Buffer.alloc(pad));
    }
    if (pendingBytes >= BATCH) yield flush()!;
  }
  push(Buffer.alloc(2 * BLOCK));
  yield flush()!;
}

/** The tar stream of `entries`, in the order given, ending with the two zero blocks. */
export function tarStream(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>): Readable {
  return Readable.from(tarChunks(entries), { objectMode: false, highWaterMark: 4 * BATCH });
}
