/** Reading images of the local store by the names users type (`acme/base:1`, `name` = `name:latest`). */
import { IbError } from '../errors.js';
import type { Store } from '../oci/index.js';
import { ImageConfig, Manifest } from '../oci/types.js';

export function storeTag(ref: string): string {
  return /:[\w][\w.-]*$/.test(ref.split('/').pop() ?? ref) || ref.includes('@') ? ref : `${ref}:latest`;
}

export async function readStoreImage(store: Store, ref: string): Promise<{ digest: string; manifest: Manifest; config: ImageConfig }> {
  const desc = await store.resolve(storeTag(ref));
  if (!desc) throw new IbError(`image "${ref}" is not in the local store`, { hint: 'ib images lists the local store; ib pull fetches from a registry' });
  const manifest = await store.readJson(desc.digest, Manifest);
  const config = await store.readJson(manifest.config.digest, ImageConfig);
  return { digest: desc.digest, manifest, config };
}
