/**
 * A recipe's `outputs:`, made in order after the image is built: ostree commit, bootable
 * container, disk, ISO. Each reads the image from the local store like the matching `ib` verb.
 */
import { resolve } from 'node:path';
import { emit } from '../log.js';
import type { Recipe } from '../recipe/schema.js';
import { withImageTree, type ImageTreeOptions } from './image-tree.js';
import { withLiveBoot } from './live.js';

export type Outputs = NonNullable<Recipe['outputs']>;

export interface OutputResult {
  kind: 'disk' | 'iso' | 'ostree' | 'bootable-container';
  path?: string;
  ref?: string;
}

const EXT = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vhd: 'vhd' } as const;

export async function makeOutputs(tag: string, name: string, outputs: Outputs, o: ImageTreeOptions & { dir?: string }): Promise<OutputResult[]> {
  const results: OutputResult[] = [];
  const base = name.replace(/[/:]/g, '-');
  const dir = o.dir ?? process.cwd();
  if (outputs.ostree || outputs['bootable-container']) {
    const { makeOstreeOutputs } = await import('./ostree-outputs.js');
    results.push(...(await makeOstreeOutputs(tag, name, outputs, o)));
  }
  if (outputs.disk) {
    const d = outputs.disk;
    const { buildDisk } = await import('../disk/index.js');
    const output = resolve(dir, d.output ?? `${base}.${EXT[d.format]}`);
    await withImageTree(tag, o, (t) => buildDisk({
      tree: t.tree, output, format: d.format, size: d.size, boot: d.boot,
      kargs: t.kargs.filter((k) => !/^(root|console)=/.test(k) && k !== 'ro' && k !== 'rw'),
      seed: `${t.image.ref}@${t.image.manifestDigest}`, sourceDateEpoch: t.sourceDateEpoch,
    }));
    emit({ event: 'info', message: `output disk: ${output}` });
    results.push({ kind: 'disk', path: output });
  }
  if (outputs.iso) {
    const i = outputs.iso;
    const { buildIso } = await import('../iso/index.js');
    const output = resolve(dir, i.output ?? `${base}-live.iso`);
    const liveRef = await withLiveBoot(tag, o);
    await withImageTree(liveRef, o, (t) => buildIso({
      tree: t.tree, output, label: i.label, compression: i.compression, sourceDateEpoch: t.sourceDateEpoch,
      kargs: t.kargs.filter((k) => !/^(root|console|boot)=/.test(k) && k !== 'ro' && k !== 'rw'),
    }));
    emit({ event: 'info', message: `output iso: ${output}` });
    results.push({ kind: 'iso', path: output });
  }
  return results;
}
