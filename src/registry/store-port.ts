/**
 * What the registry code needs of the local store (src/oci/store.ts). Typed structurally so that
 * this part depends on the store's behaviour, not on its class: the store verifies every blob
 * it is handed (`putBlob` with an expected digest and size stores nothing on a mismatch).
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/index.js';

export interface LocalStore {
  blobPath(digest: string): string;
  hasBlob(digest: string): boolean | Promise<boolean>;
  openBlob(digest: string): Readable | Promise<Readable>;
  putBlob(src: Readable, expect?: { digest?: string; size?: number }): Promise<{ digest: string; size: number }>;
  tag(name: string, desc: Descriptor): unknown;
  resolve(name: string): Descriptor | undefined | Promise<Descriptor | undefined>;
}
