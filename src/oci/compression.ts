/**
 * Layer compression. Digests must not depend on the machine, so each format has exactly one
 * compressor, one level and fixed flags:
 * - gzip: `pigz -n -6`. pigz 2.6 gives the same bytes for any thread count (checked -p 1/2/4 on
 *   a 675 MB tar) and `-n` keeps name and time out of the header. gzip(1) and Node's zlib give
 *   *different* bytes at the same level, so there is no silent fallback: a missing pigz is an
 *   error with the apt-get line (ib doctor). Level 6 is Docker's and Go's default: 224 MB for the
 *   minimal tree against 244 MB at level 1 (which is ~2x faster); callers may pass `level`.
 * - zstd: `zstd -3 -T0`. Multi-threaded zstd output is the same for any worker count ≥ 1
 *   (checked -T1/-T2/-T4), unlike `--single-thread`.
 * Decompression: gzip with Node's zlib (no process), zstd with the zstd CLI (Node 20 has none).
 */
import { Duplex } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { IbError } from '../errors.js';
import { spawn as defaultSpawn } from '../exec/run.js';
import { MediaType } from './types.js';

export type Compression = 'gzip' | 'zstd';

export const COMPRESSED_MEDIA_TYPE: Record<Compression, string> = {
  gzip: MediaType.layerGzip,
  zstd: MediaType.layerZstd,
};

export const DEFAULT_LEVEL: Record<Compression, number> = { gzip: 6, zstd: 3 };

export interface Codec {
  /** Write the input here, read the output there. */
  stream: Duplex;
  /** Settles when the codec has finished; rejects with the tool's error. */
  done: Promise<void>;
}

type SpawnFn = typeof defaultSpawn;

function processCodec(cmd: string, args: string[], spawn: SpawnFn): Codec {
  const p = spawn(cmd, args, { stdin: 'pipe', stdout: 'pipe' });
  const stream = Duplex.from({ writable: p.stdin!, readable: p.stdout! });
  const done = p.done.catch((e: unknown) => {
    stream.destroy(e as Error);
    throw e;
  });
  // A consumer that stops early (a limit hit, an error) must not leave the process running.
  stream.once('close', () => {
    if (!stream.readableEnded) p.kill();
  });
  done.catch(() => undefined);
  return { stream, done };
}

export function compressor(c: Compression, level = DEFAULT_LEVEL[c], spawn: SpawnFn = defaultSpawn): Codec {
  if (c === 'gzip') return processCodec('pigz', ['-n', `-${level}`, '-c'], spawn);
  return processCodec('zstd', [`-${level}`, '-T0', '-q', '-c'], spawn);
}

/** How a layer media type is compressed; throws for types ib cannot unpack. */
export function compressionOf(mediaType: string): Compression | 'none' {
  if (/(\+|\.)gzip$/.test(mediaType)) return 'gzip';
  if (/\+zstd$/.test(mediaType)) return 'zstd';
  if (/(\.|\/)tar$/.test(mediaType) || /\.tar$/.test(mediaType)) return 'none';
  throw new IbError(`unsupported layer media type ${mediaType}`, {
    hint: `ib unpacks ${MediaType.layerTar}, ${MediaType.layerGzip}, ${MediaType.layerZstd} and ${MediaType.dockerLayerGzip}`,
  });
}

export function decompressor(mediaType: string, spawn: SpawnFn = defaultSpawn): Codec | undefined {
  const c = compressionOf(mediaType);
  if (c === 'none') return undefined;
  if (c === 'zstd') return processCodec('zstd', ['-d', '-q', '-c'], spawn);
  const stream = createGunzip({ chunkSize: 256 * 1024 });
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  done.catch(() => undefined);
  return { stream, done };
}
