import { writeFile } from 'node:fs/promises';
import { IbError, UsageError } from '../errors.js';
import { emit } from '../log.js';
import type { Store } from '../oci/index.js';
import { parseRef, pushImage, type DockerRef } from '../registry/index.js';


/** Push an image of the local store (by tag) to a registry reference. */
export async function pushToRegistry(store: Store, localTag: string, dest: string, o: { tlsVerify?: boolean; authfile?: string; digestfile?: string; from?: string } = {}): Promise<string> {
  const desc = await store.resolve(localTag);
  if (!desc) throw new IbError(`image "${localTag}" is not in the local store`, { hint: 'ib images lists the local store' });
  const ref = parseRef(dest.includes('://') || dest.includes('/') ? dest : `docker://${dest}`);
  if (ref.transport !== 'docker') {
    throw new UsageError(`--push ${dest}: not a registry reference`, { hint: 'write HOST/REPO:TAG, e.g. localhost:5000/acme/base:1 (ib copy handles oci: and docker-daemon:)' });
  }
  let from: DockerRef | undefined;
  if (o.from) {
    const f = parseRef(o.from);
    if (f.transport === 'docker') from = f;
  }
  const res = await pushImage(store, desc.digest, ref, { tlsVerify: o.tlsVerify, authfile: o.authfile, mountFrom: from });
  emit({ event: 'image', ref: dest, digest: res.digest });
  if (o.digestfile) await writeFile(o.digestfile, res.digest + '\n');
  return res.digest;
}
