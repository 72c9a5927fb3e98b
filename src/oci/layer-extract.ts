/**
 * Layer blob → layer dir (overlay upper-dir form), safely. The blob is streamed through
 * sha256 (digest) → decompressor → size limit → sha256 (diffID) → tar reader → LayerApplier,
 * into a private temp dir beside the target that is renamed into place only when everything
 * (names, digests, limits) checked out. Nothing outside that temp dir is ever written.
 */
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IbError, wrap } from '../errors.js';
import { formatBytes } from '../log.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { decompressor } from './compression.js';
import { HashingStream } from './digest.js';
import { LayerApplier, Refusal } from './layer-apply.js';
import { LayerRefusedError } from './member-path.js';
import { Store } from './store.js';
import { TarFormatError } from './tar-header.js';
import { readTar } from './tar-reader.js';
import { pidAlive } from '../exec/lock.js';

export interface ExtractOptions {
  /** Verify the uncompressed stream against it (the config's diff_id). */
  expectedDiffId?: string;
  /** The blob's digest, verified when given (always known for a store source). */
  digest?: string;
  /** Gzip-bomb guard: the most uncompressed bytes accepted (default 32 GiB). */
  maxUncompressedBytes?: number;
  run?: Run;
}

export interface LayerInfo {
  mediaType: string;
  digest?: string;
  diffId?: string;
}

export const DEFAULT_MAX_UNCOMPRESSED = 32 * 1024 ** 3;

class SizeLimit extends Transform {
  private seen = 0;
  constructor(private readonly max: number, private readonly layer: string) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) {
      cb(new LayerRefusedError(this.layer, undefined, `it inflates past the limit of ${formatBytes(this.max)}`));
    } else cb(null, chunk);
  }
}


/** Temp dirs left by extractions that were killed. */
async function removeStale(parent: string, prefix: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) await rm(join(parent, name), { recursive: true, force: true });
  }
}

function tampered(digest: string, actual: string): IbError {
  return new IbError(`layer ${digest}: the blob's content has digest ${actual}`, {
    hint: 'the blob is corrupt or was tampered with: remove it and pull or rebuild the image',
  });
}

async function checkBlob(store: Store, digest: string): Promise<void> {
  const h = new HashingStream();
  await pipeline(store.openBlob(digest), h, new Writable({ write: (_c, _e, cb) => cb() }));
  if (h.digest() !== digest) throw tampered(digest, h.digest());
}

/**
 * Extract a layer into `targetDir` (which must not exist yet). If another process finishes the
 * same target first, its result is kept (layer dirs are content-addressed) and ours dropped.
 */
export async function extractLayer(
  src: Store | Readable,
  layer: string | LayerInfo,
  targetDir: string,
  opts: ExtractOptions = {},
): Promise<{ diffId: string; tarSize: number }> {
  const info: LayerInfo = typeof layer === 'string' ? { mediaType: layer } : layer;
  const digest = opts.digest ?? info.digest;
  const expectedDiffId = opts.expectedDiffId ?? info.diffId;
  const name = digest ?? expectedDiffId ?? 'from a stream';
  const run = opts.run ?? defaultRun;
  let source: Readable;
  if (src instanceof Store) {
    if (!digest) throw new IbError('extractLayer: a store source needs the layer digest');
    await src.blobSize(digest); // a clear "not in the store" before any stream error
    source = src.openBlob(digest);
  } else source = src;

  const parent = dirname(targetDir);
  const prefix = `.${basename(targetDir)}.extract-`;
  await mkdir(parent, { recursive: true });
  await removeStale(parent, prefix);
  const work = await mkdtemp(join(parent, `${prefix}${process.pid}-`));
  const root = join(work, 'root');
  try {
    await mkdir(root, { mode: 0o755 });
    const blobHash = new HashingStream();
    const diffHash = new HashingStream();
    const codec = decompressor(info.mediaType);
    const max = opts.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED;
    const limit = new SizeLimit(max, name);
    const chain = [source, blobHash, ...(codec ? [codec.stream] : []), diffHash, limit] as const;
    const piped = pipeline(chain as unknown as [Readable, Transform]).then(() => undefined, (e: unknown) => e);
    const applier = new LayerApplier(root, work, run);
    try {
      for await (const { header, body } of readTar(limit, { maxEntryBytes: max })) await applier.entry(header, body);
    } catch (e) {
      source.destroy();
      limit.destroy();
      await piped;
      // A blob altered on disk usually breaks the tar or gzip first: name the real cause.
      if (src instanceof Store && digest) await checkBlob(src, digest);
      if (e instanceof Refusal) throw new LayerRefusedError(name, e.member, e.message);
      if (e instanceof TarFormatError) {
        throw e.member === undefined
          ? new LayerRefusedError(name, undefined, `it is not a valid tar archive: ${e.message}`)
          : new LayerRefusedError(name, e.member, e.message);
      }
      if (e instanceof LayerRefusedError) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('Z_')) throw new LayerRefusedError(name, undefined, `it does not decompress: ${(e as Error).message}`);
      throw wrap(`extracting layer ${name}`, e);
    }
    const perr = await piped;
    if (perr) throw wrap(`extracting layer ${name}`, perr);
    if (codec) await codec.done.catch((e: unknown) => {
      throw wrap(`extracting layer ${name}`, e);
    });
    if (digest && blobHash.digest() !== digest) throw tampered(digest, blobHash.digest());
    const diffId = diffHash.digest();
    if (expectedDiffId && diffId !== expectedDiffId) {
      throw new IbError(`layer ${name}: its uncompressed content has digest ${diffId}, but the image config says ${expectedDiffId}`, {
        hint: 'the image is corrupt or was tampered with (config and layer disagree); nothing was extracted',
      });
    }
    await applier.finish();
    try {
      await rename(root, targetDir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
    return { diffId, tarSize: diffHash.bytes };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
