/**
 * Writing the GPT with sfdisk into an image file, and reading it back (`sfdisk --json`, parsed
 * with zod) to check that what landed on disk is what the layout says.
 */
import { z } from 'zod';
import { IbError } from '../errors.js';
import { run as defaultRun, type Run } from '../exec/run.js';
import { sfdiskScript, type DiskLayout } from './layout.js';

export const SfdiskTable = z.object({
  partitiontable: z.object({
    label: z.string(),
    id: z.string(),
    unit: z.string().optional(),
    sectorsize: z.number().optional(),
    partitions: z.array(z.object({
      node: z.string(),
      start: z.number(),
      size: z.number(),
      type: z.string(),
      uuid: z.string().optional(),
      name: z.string().optional(),
    })).default([]),
  }),
});
export type SfdiskTable = z.infer<typeof SfdiskTable>;

export async function readPartitionTable(image: string, opts: { run?: Run } = {}): Promise<SfdiskTable> {
  const run = opts.run ?? defaultRun;
  const r = await run('sfdisk', ['--json', image]);
  return SfdiskTable.parse(JSON.parse(r.stdout));
}

export async function writePartitionTable(image: string, layout: DiskLayout, opts: { run?: Run } = {}): Promise<void> {
  const run = opts.run ?? defaultRun;
  // Never wipe: the image is fresh, and sfdisk's wipe would look for signatures we put there.
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'never', '--wipe-partitions', 'never', image], {
    input: sfdiskScript(layout),
  });
  const t = (await readPartitionTable(image, opts)).partitiontable;
  const got = t.partitions.map((p) => `${p.start}+${p.size}:${p.type.toUpperCase()}:${(p.uuid ?? '').toUpperCase()}`);
  const want = layout.partitions.map((p) => `${p.start}+${p.sectors}:${p.typeGuid}:${p.uuid.toUpperCase()}`);
  if (t.label !== 'gpt' || t.id.toUpperCase() !== layout.diskGuid.toUpperCase() || got.join() !== want.join()) {
    throw new IbError(`the partition table sfdisk wrote differs from the layout: got ${got.join(', ')}; wanted ${want.join(', ')}`);
  }
}
