/**
 * The local ends of a copy: ib's store and `oci:DIR[:TAG]` layouts are both OCI image layouts,
 * so both are opened with the oci part's Store, and an image moves between them blob by blob
 * (verified on the way in, never recompressed).
 */
import { IbError } from '../errors.js';
import { Store, type Descriptor } from '../oci/index.js';
import { parseManifestBytes, readStoreBlob } from './push.js';
import { formatRef, type OciRef, type StoreRef } from './reference.js';
import type { LocalStore } from './store-port.js';

export type LocalRef = StoreRef | OciRef;

/** The name an image has inside a layout's index.json. */
export function layoutName(ref: LocalRef): string | undefined {
  if (ref.transport === 'oci') return ref.tag;
  if (ref.digest && !ref.tag) return undefined;
  return `${ref.name}:${ref.tag ?? 'latest'}`;
}

export async function openLocal(ref: LocalRef, store: LocalStore | undefined): Promise<LocalStore & Partial<Pick<Store, 'readIndex'>>> {
  if (ref.transport === 'oci') return Store.open(ref.dir);
  if (!store) throw new IbError(`${formatRef(ref)}: the local store was not given`);
  return store;
}

/** Find the image a local reference names: by tag, by digest, or the only image of an oci: layout. */
export async function resolveLocal(store: LocalStore & Partial<Pick<Store, 'readIndex'>>, ref: LocalRef): Promise<Descriptor> {
  if (ref.transport === 'store' && ref.digest && !ref.tag) {
    if (!(await store.hasBlob(ref.digest))) throw new IbError(`no image ${ref.digest} in the local store`, { hint: '`ib images` lists what the store holds' });
    const bytes = await readStoreBlob(store, ref.digest);
    const m = parseManifestBytes(bytes, ref.digest);
    return { mediaType: m.mediaType, digest: ref.digest, size: bytes.length };
  }
  const name = layoutName(ref);
  if (name) {
    const d = await store.resolve(name);
    if (!d) {
      throw new IbError(`no image ${JSON.stringify(name)} in ${ref.transport === 'oci' ? `the layout ${ref.dir}` : 'the local store'}`, {
        hint: ref.transport === 'oci' ? 'name one of the layout\'s tags: oci:DIR:TAG' : '`ib images` lists what the store holds',
      });
    }
    return d;
  }
  const index = await store.readIndex?.();
  const all = index?.manifests ?? [];
  if (all.length !== 1) {
    throw new IbError(`the layout ${(ref as OciRef).dir} holds ${all.length} images; say which one`, { hint: 'use oci:DIR:TAG' });
  }
  return all[0]!;
}

/** Copy an image (an index with all its images) between two layouts; returns the bytes copied. */
export async function copyLocal(src: LocalStore, dst: LocalStore, desc: Descriptor): Promise<number> {
  let bytes = 0;
  const copyBlob = async (d: { digest: string; size: number }) => {
    if (await dst.hasBlob(d.digest)) return;
    await dst.putBlob(await src.openBlob(d.digest), { digest: d.digest, size: d.size });
    bytes += d.size;
  };
  const copyManifest = async (d: Descriptor) => {
    const raw = await readStoreBlob(src, d.digest);
    const m = parseManifestBytes(raw, d.digest);
    for (const c of m.children) await copyManifest(c);
    for (const b of m.blobs) await copyBlob(b);
    // The manifest last: a layout never names a manifest whose blobs it lacks.
    await copyBlob({ digest: d.digest, size: raw.length });
  };
  await copyManifest(desc);
  return bytes;
}
