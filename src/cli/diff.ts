import type { Command } from 'commander';
import type { GlobalOptions } from './main.js';

export function registerDiff(program: Command): void {
  program
    .command('diff <a> <b>')
    .description('what image B changes relative to A: packages added/removed/upgraded, files changed')
    .option('--json', 'print JSON')
    .action(async (a: string, b: string, o: { json?: boolean }, cmd: Command) => {
      const { cachePaths } = await import('../build/index.js');
      const { diffImages } = await import('../build/diff.js');
      const { Store } = await import('../oci/index.js');
      const { readStoreImage } = await import('./store-image.js');
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const paths = cachePaths(undefined, g.store);
      const store = await Store.open(paths.store);
      const d = await diffImages(paths, await readStoreImage(store, a), await readStoreImage(store, b));
      if (o.json || g.json) {
        process.stdout.write(JSON.stringify(d, null, 2) + '\n');
        return;
      }
      for (const p of d.packages.added) process.stdout.write(`package + ${p}\n`);
      for (const p of d.packages.removed) process.stdout.write(`package - ${p}\n`);
      for (const p of d.packages.changed) process.stdout.write(`package ~ ${p.name} ${p.from} -> ${p.to}\n`);
      for (const f of d.files) process.stdout.write(`file    ${f}\n`);
    });
}
