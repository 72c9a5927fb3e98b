/**
 * ostree outputs of an image: prepare its tree the way ostree expects, commit it (reproducibly),
 * and encapsulate the commit as an ostree-native (bootc-style) container in the local store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { emit, phase } from '../log.js';
import type { Recipe } from '../recipe/schema.js';
import { withImageTree, type ImageTreeOptions } from './image-tree.js';
import type { OutputResult } from './outputs.js';

export interface OstreeCommitRequest {
  repo?: string;
  branch?: string;
  mode?: 'archive' | 'bare-user';
  subject?: string;
  version?: string;
}

export function defaultBranch(name: string): string {
  return `${name.replace(/:.*$/, '').replace(/[^\w./-]/g, '-')}/x86_64`;
}

/** Prepare + commit an image; returns the repo, branch and commit checksum. */
export async function commitImage(ref: string, req: OstreeCommitRequest, o: ImageTreeOptions): Promise<{ repo: string; branch: string; commit: string }> {
  const { prepareTree, ostreeCommit } = await import('../ostree/index.js');
  return withImageTree(ref, o, async (t) => {
    const repo = resolve(req.repo ?? join(t.paths.root, 'ostree', 'repo'));
    const branch = req.branch ?? defaultBranch(ref);
    const work = await mkdtemp(join(t.paths.tmp, `ostree-${process.pid}-`));
    try {
      const prepared = join(work, 'tree');
      await phase('preparing the tree for ostree', () => prepareTree(t.tree, prepared, { sourceDateEpoch: t.sourceDateEpoch }));
      const commit = await phase('ostree commit', () => ostreeCommit({
        tree: prepared, repo, branch, mode: req.mode ?? 'bare-user', subject: req.subject ?? `${ref}`,
        version: req.version ?? t.image.config.config?.Labels?.['org.opencontainers.image.version'],
        metadata: { 'ib.image.digest': t.image.manifestDigest }, sourceDateEpoch: t.sourceDateEpoch,
      }));
      emit({ event: 'info', message: `ostree commit ${commit} on ${branch} in ${repo}` });
      return { repo, branch, commit };
    } finally {
      await rm(work, { recursive: true, force: true }).catch(() => undefined);
    }
  });
}

export async function makeOstreeOutputs(tag: string, name: string, outputs: NonNullable<Recipe['outputs']>, o: ImageTreeOptions): Promise<OutputResult[]> {
  const results: OutputResult[] = [];
  const c = await commitImage(tag, { repo: outputs.ostree?.repo, branch: outputs.ostree?.branch ?? defaultBranch(name) }, o);
  results.push({ kind: 'ostree', path: c.repo, ref: c.branch });
  const bc = outputs['bootable-container'];
  if (bc) {
    const { encapsulate } = await import('../ostree/index.js');
    const { cachePaths } = await import('../build/index.js');
    const { Store } = await import('../oci/index.js');
    const store = await Store.open(cachePaths(undefined, o.store).store);
    const target = bc.tag ?? `${name.replace(/:.*$/, '')}:bootable`;
    const img = await phase('encapsulating', () => encapsulate({ repo: c.repo, ref: c.branch, store, tag: target, maxLayers: bc.maxLayers }));
    emit({ event: 'image', ref: target, digest: img.manifest.digest });
    if (bc.push) {
      const { pushToRegistry } = await import('./push.js');
      await pushToRegistry(store, target, bc.push, { tlsVerify: o.tlsVerify, authfile: o.authfile });
    }
    results.push({ kind: 'bootable-container', ref: target });
  }
  return results;
}
