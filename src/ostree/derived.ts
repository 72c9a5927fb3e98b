/**
 * Layers after `ostree.final-diffid`: a bootable image someone derived from (`ib derive`,
 * `FROM` in a Containerfile). As bootc does, they are a filesystem diff applied on top of the
 * ostree commit and committed as its child, so the result is still deployable.
 * A container build sees `/etc` where the commit has `/usr/etc`: each layer's `etc` is moved to
 * `usr/etc` before the layers are stacked, so its whiteouts and opaque dirs hit the right files.
 * `/var` starts empty on an ostree system and `/run`, `/tmp` are mounted at boot: what the
 * layers put there is dropped. A changed kernel in `/boot` would need the tree prepared again.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { IbError } from '../errors.js';
import type { Run } from '../exec/run.js';
import { emit } from '../log.js';
import { extractLayer, type Store } from '../oci/index.js';
import { flattenLayers } from '../tree/index.js';
import { OstreeRepo } from './repo.js';

export interface DerivedOptions {
  store: Store;
  layers: { digest: string; size: number; mediaType: string; diffId: string }[];
  repo: string;
  baseCommit: string;
  branch: string;
  scratch: string;
  /** The image config's `created`: the new commit's timestamp. */
  created?: string;
  run: Run;
}

const DROPPED = ['var', 'run', 'tmp', 'sysroot'];

/** Turn a layer dir made for a container's view into one for the commit's view. */
async function toCommitView(dir: string, name: string): Promise<void> {
  for (const d of DROPPED) {
    if (existsSync(join(dir, d))) {
      emit({ event: 'info', message: `ostree import: /${d} of derived layer ${name} is not part of an ostree commit; dropped` });
      await rm(join(dir, d), { recursive: true, force: true });
    }
  }
  const boot = join(dir, 'boot');
  if (existsSync(boot) && (await readdir(boot)).length > 0) {
    throw new IbError(`derived layer ${name} changes /boot (a new kernel?)`, {
      hint: 'a kernel change needs the tree prepared again: flatten the derived image and run `ib ostree commit` / `ib ostree container` on it',
    });
  }
  await rm(boot, { recursive: true, force: true });
  const etc = join(dir, 'etc');
  const st = await lstat(etc).catch(() => undefined);
  if (!st) return;
  if (!st.isDirectory()) throw new IbError(`derived layer ${name} replaces /etc with something that is not a directory`);
  await mkdir(join(dir, 'usr'), { recursive: true });
  if (existsSync(join(dir, 'usr/etc'))) throw new IbError(`derived layer ${name} has both /etc and /usr/etc`);
  await rename(etc, join(dir, 'usr/etc'));
}

/** Apply the derived layers to a checkout of `baseCommit` and commit the result onto `branch`. */
export async function applyDerivedLayers(o: DerivedOptions): Promise<string> {
  const base = join(o.scratch, 'base');
  await o.run('ostree', [`--repo=${o.repo}`, 'checkout', o.baseCommit, base]);
  const dirs: string[] = [];
  for (const [i, l] of o.layers.entries()) {
    const dir = join(o.scratch, `derived-${i}`);
    await extractLayer(o.store, l, dir, { run: o.run });
    await toCommitView(dir, l.digest);
    dirs.push(dir);
  }
  const merged = join(o.scratch, 'merged');
  await flattenLayers([...dirs.reverse(), base], merged, join(o.scratch, 'flatten'));
  // The image's creation time, else the base commit's: never "now", which would make two imports differ.
  let created = o.created ? Math.floor(Date.parse(o.created) / 1000) : NaN;
  if (!Number.isFinite(created)) created = (await (await OstreeRepo.open(o.repo)).readCommit(o.baseCommit)).timestamp;
  const args = [
    `--repo=${o.repo}`, 'commit',
    `--branch=${o.branch}`,
    '--bootable',
    `--parent=${o.baseCommit}`,
    '--keep-metadata=version',
    `--tree=dir=${merged}`,
  ];
  args.push(`--timestamp=@${created}`);
  const checksum = (await o.run('ostree', args)).stdout.trim();
  if (!/^[0-9a-f]{64}$/.test(checksum)) throw new IbError(`ostree commit printed "${checksum.slice(0, 100)}", not a checksum`);
  return checksum;
}
