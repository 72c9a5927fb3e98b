/**
 * A stack of store layers as an image in the engine, for the docker executor to start step
 * containers from. The image is named by the ChainID of its layers (`ib-executor:<hex>`), so the
 * same stack is loaded once per engine and every later build finds it.
 *
 * Loading is incremental: a docker-archive may leave out the tar of a layer the engine already
 * has (dockerd 20.10's `load` looks a layer up by ChainID before it opens its file), so a build
 * that adds one layer to a stack sends only that layer instead of 700 MB each step.
 */
import type { Readable } from 'node:stream';
import { IbError } from '../errors.js';
import { debug, formatBytes } from '../log.js';
import { canonicalJson, digestHex, sha256, tarStream, type Store, type TarWriteEntry } from '../oci/index.js';
import { inspectEngineImage, loadArchive, type Engine } from './engine.js';

export interface StackLayer {
  /** Blob digest in the store (gzip, zstd or plain tar). */
  digest: string;
  diffId: string;
  size: number;
}

export const EXECUTOR_REPO = 'ib-executor';

/** OCI/docker ChainIDs of a layer stack, bottom first: chain[n] = sha256(chain[n-1] + " " + diffId[n]). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

/** The engine image name for a stack (its top ChainID). */
export function stackImageName(diffIds: readonly string[]): string {
  const top = chainIds(diffIds).at(-1);
  if (!top) throw new IbError('a step container needs at least one layer below it');
  return `${EXECUTOR_REPO}:${top.slice('sha256:'.length)}`;
}

/** The image config dockerd needs to load a stack: its diff IDs; nothing else is read from it. */
export function stackConfig(diffIds: readonly string[], architecture: string): Buffer {
  return Buffer.from(canonicalJson({ architecture, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
}

function file(name: string, data: Buffer | { size: number; open: () => AsyncIterable<Buffer> }): TarWriteEntry {
  const size = Buffer.isBuffer(data) ? data.length : data.size;
  const body = Buffer.isBuffer(data) ? async function* () {
    yield data;
  } : data.open;
  return { header: { name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0 }, body };
}

/** The docker-archive of a stack, with the tars of the first `present` layers left out. */
export function stackArchive(store: Store, layers: readonly StackLayer[], architecture: string, present: number, repoTag: string): Readable {
  const diffIds = layers.map((l) => l.diffId);
  const config = stackConfig(diffIds, architecture);
  const configName = `${digestHex(sha256(config))}.json`;
  const names = layers.map((l) => `${l.diffId.slice('sha256:'.length)}/layer.tar`);
  const entries: TarWriteEntry[] = [file(configName, config)];
  const sent = new Set<string>();
  for (const [i, l] of layers.entries()) {
    if (i < present || sent.has(names[i]!)) continue;
    sent.add(names[i]!);
    entries.push({ header: { name: l.diffId.slice('sha256:'.length), type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } });
    // Stored blobs go in as they are: dockerd decompresses gzip and zstd itself and checks the diff ID.
    entries.push(file(names[i]!, { size: l.size, open: () => store.openBlob(l.digest) as AsyncIterable<Buffer> }));
  }
  entries.push(file('manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: names }]))));
  return tarStream(entries);
}

/**
 * Make sure the engine has the stack as `ib-executor:<chain id>` and return that name. Only the
 * layers above the longest stack prefix the engine already holds are sent.
 */
export async function ensureStackImage(engine: Engine, store: Store, layers: readonly StackLayer[], architecture: string): Promise<string> {
  const diffIds = layers.map((l) => l.diffId);
  const name = stackImageName(diffIds);
  if (await inspectEngineImage(engine, name)) return name;
  let present = 0;
  for (let n = layers.length - 1; n > 0; n--) {
    if (await inspectEngineImage(engine, stackImageName(diffIds.slice(0, n)))) {
      present = n;
      break;
    }
  }
  const bytes = layers.slice(present).reduce((s, l) => s + l.size, 0);
  debug(`engine: loading ${name} (${layers.length - present} of ${layers.length} layers, ${formatBytes(bytes)})`);
  await loadArchive(engine, stackArchive(store, layers, architecture, present, name));
  const got = await inspectEngineImage(engine, name);
  if (!got) throw new IbError(`the engine did not keep ${name} after loading it`, { hint: 'check the engine\'s log (journalctl -u docker)' });
  return name;
}
