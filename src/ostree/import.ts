/**
 * The way back: an ostree-native container image in the local store → the same commit in an
 * ostree repository. Layers 0..`ostree.final-diffid` are each part of a `bare-split-xattrs` repo
 * (export-tar.ts); they are extracted safely and verified against their digests and diffIDs
 * (oci's extractLayer), hardlinked together into one staging repo, and `ostree pull-local
 * --untrusted` copies the commit into the target, re-checksumming every object on the way.
 * Layers after final-diffid (a bootable image that was derived from) are applied on top and
 * committed as a child of that commit (derived.ts).
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IbError, wrap } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { extractLayer, imageLayers, readImageByName, type Store, type StoredImage } from '../oci/index.js';
import { ensureRepo, type CommitRepoMode } from './commit.js';
import { applyDerivedLayers } from './derived.js';
import { LABELS } from './encapsulate.js';
import { REPO_CONFIG, REPO_DIR } from './export-tar.js';

export interface ImportOptions {
  store: Store;
  /** A store name, or an image already read from the store. */
  image: string | StoredImage;
  /** Target repository, created (with `mode`) if missing. */
  repo: string;
  /** Ref to point at the imported commit. */
  branch?: string;
  mode?: CommitRepoMode;
  /** Where the layers are unpacked (default: the system temp dir). */
  scratch?: string;
  run?: Run;
}

export interface ImportedCommit {
  /** The commit now in the repo (the derived one when the image has derived layers). */
  commit: string;
  /** The ostree commit the image was encapsulated from (label ostree.commit). */
  baseCommit: string;
  derivedLayers: number;
}

/** Where the ostree part of an image ends; throws a clear error for images that are not ostree-native. */
export function ostreeLayerCount(img: StoredImage, name: string): number {
  const labels = img.config.config?.Labels ?? {};
  const commit = labels[LABELS.commit];
  const final = labels[LABELS.finalDiffId];
  if (!commit || !final) {
    throw new IbError(`${name} is not an ostree-native container image (it has no ${!commit ? LABELS.commit : LABELS.finalDiffId} label)`, {
      hint: 'make one from an ostree commit with `ib ostree container`, or commit a plain image with `ib ostree commit`',
    });
  }
  const n = img.config.rootfs.diff_ids.indexOf(final) + 1;
  if (n === 0) throw new IbError(`${name}: its ${LABELS.finalDiffId} ${final} is not one of its layers`, { hint: 'the image is corrupt; rebuild it' });
  return n;
}

export async function importContainer(o: ImportOptions): Promise<ImportedCommit> {
  const run = o.run ?? defaultRun;
  const name = typeof o.image === 'string' ? o.image : o.image.descriptor.digest;
  const img = typeof o.image === 'string' ? await readImageByName(o.store, o.image) : o.image;
  const nOstree = ostreeLayerCount(img, name);
  const baseCommit = img.config.config!.Labels![LABELS.commit]!;
  if (!/^[0-9a-f]{64}$/.test(baseCommit)) throw new IbError(`${name}: label ${LABELS.commit} is not a checksum: ${baseCommit.slice(0, 80)}`);
  const layers = imageLayers(img);
  const scratch = await mkdtemp(join(o.scratch ?? tmpdir(), 'ib-ostree-import-'));
  try {
    const staging = join(scratch, 'repo');
    await mkdir(staging);
    for (const [i, l] of layers.slice(0, nOstree).entries()) {
      const dir = join(scratch, `layer-${i}`);
      await extractLayer(o.store, l, dir, { run });
      await run('cp', ['-a', '-l', '--remove-destination', '--', `${join(dir, REPO_DIR)}/.`, `${staging}/`], { allowFailure: false });
      await rm(dir, { recursive: true, force: true });
    }
    const config = await readFile(join(staging, 'config'), 'utf8').catch(() => '');
    if (config !== REPO_CONFIG) {
      throw new IbError(`${name}: its layers do not hold a bare-split-xattrs ostree repository`, { hint: 'it was not made by ib ostree container, bootc or rpm-ostree' });
    }
    await ensureRepo(o.repo, o.mode, run);
    // By checksum: a pull by ref would check the commit's ref binding (the branch it was made on).
    await run('ostree', [`--repo=${o.repo}`, 'pull-local', '--untrusted', staging, baseCommit]);
    let commit = baseCommit;
    const derived = layers.slice(nOstree);
    const ref = o.branch ?? `ib/import/${process.pid}`;
    if (derived.length > 0) {
      commit = await applyDerivedLayers({ store: o.store, layers: derived, repo: o.repo, baseCommit, branch: ref, scratch, created: img.config.created, run });
      if (!o.branch) await run('ostree', [`--repo=${o.repo}`, 'refs', '--delete', ref]);
    } else if (o.branch) {
      await run('ostree', [`--repo=${o.repo}`, 'refs', '--force', `--create=${o.branch}`, commit]);
    }
    return { commit, baseCommit, derivedLayers: derived.length };
  } catch (e) {
    throw wrap(`importing ${name} into ostree repository ${o.repo}`, e);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
