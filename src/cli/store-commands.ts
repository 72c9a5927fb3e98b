import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { IbError } from '../errors.js';
import { formatBytes } from '../log.js';
import type { GlobalOptions } from './main.js';
import { readStoreImage, storeTag } from './store-image.js';

async function openStore(cmd: Command) {
  const g = cmd.optsWithGlobals() as GlobalOptions;
  const { cachePaths } = await import('../build/cache.js');
  const { Store } = await import('../oci/index.js');
  const paths = cachePaths(undefined, g.store);
  return { paths, store: await Store.open(paths.store) };
}

export function registerStoreCommands(program: Command): void {
  program
    .command('images')
    .description('list the images in the local store')
    .option('--format <fmt>', 'table (default) or json', 'table')
    .action(async (o: { format: string }, cmd: Command) => {
      const { store } = await openStore(cmd);
      const { ImageConfig, Manifest } = await import('../oci/types.js');
      const rows: { name: string; digest: string; size: number; created?: string; layers: number }[] = [];
      for (const { name, descriptor } of await store.list()) {
        try {
          const m = await store.readJson(descriptor.digest, Manifest);
          const c = await store.readJson(m.config.digest, ImageConfig);
          rows.push({ name, digest: descriptor.digest, size: m.layers.reduce((a, l) => a + l.size, 0), created: c.created, layers: m.layers.length });
        } catch {
          rows.push({ name, digest: descriptor.digest, size: 0, layers: 0 });
        }
      }
      if (o.format === 'json') {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${'NAME'.padEnd(40)} ${'DIGEST'.padEnd(19)} ${'LAYERS'.padStart(6)} ${'SIZE'.padStart(10)}  CREATED\n`);
      for (const r of rows) {
        process.stdout.write(`${r.name.padEnd(40)} ${r.digest.slice(7, 19).padEnd(19)} ${String(r.layers).padStart(6)} ${formatBytes(r.size).padStart(10)}  ${r.created ?? ''}\n`);
      }
    });

  program
    .command('inspect <ref>')
    .description('show an image of the local store or a registry (docker://…) as JSON')
    .option('--raw', 'print the manifest exactly as stored')
    .option('--config', 'print the image config')
    .option('--tls-verify <bool>', 'require https (default true except for localhost)')
    .option('--authfile <file>', 'credentials file')
    .action(async (ref: string, o: { raw?: boolean; config?: boolean; tlsVerify?: string; authfile?: string }, cmd: Command) => {
      const { parseRef } = await import('../registry/reference.js');
      const parsed = parseRef(ref);
      if (parsed.transport !== 'store') {
        const { inspectRemote } = await import('../registry/index.js');
        const r = await inspectRemote(parsed, { tlsVerify: o.tlsVerify === undefined ? undefined : o.tlsVerify === 'true', authfile: o.authfile });
        process.stdout.write((o.raw ? r.raw : JSON.stringify(o.config ? r.config : r, null, 2)) + '\n');
        return;
      }
      const { store } = await openStore(cmd);
      const { digest, manifest, config } = await readStoreImage(store, ref);
      if (o.raw) {
        process.stdout.write(await readFile(store.blobPath(digest), 'utf8'));
        return;
      }
      if (o.config) {
        process.stdout.write(JSON.stringify(config, null, 2) + '\n');
        return;
      }
      process.stdout.write(JSON.stringify({
        name: storeTag(ref),
        digest,
        created: config.created,
        architecture: config.architecture,
        os: config.os,
        labels: config.config?.Labels ?? {},
        annotations: manifest.annotations ?? {},
        layers: manifest.layers.map((l, i) => ({ digest: l.digest, diffId: config.rootfs.diff_ids[i], size: l.size, mediaType: l.mediaType, createdBy: config.history?.filter((h) => !h.empty_layer)[i]?.created_by })),
        size: manifest.layers.reduce((a, l) => a + l.size, 0),
      }, null, 2) + '\n');
    });

  program
    .command('rm <refs...>')
    .description('remove image tags from the local store (blobs go with ib prune)')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const { store } = await openStore(cmd);
      for (const r of refs) {
        if (!(await store.untag(storeTag(r)))) throw new IbError(`image "${r}" is not in the local store`, { hint: 'ib images lists the local store' });
        process.stdout.write(`untagged ${storeTag(r)}\n`);
      }
    });

  program
    .command('prune')
    .description('delete blobs no tag or cached build step uses; --all also drops the build cache')
    .option('--all', 'also forget cached build steps and unpacked layers')
    .action(async (o: { all?: boolean }, cmd: Command) => {
      const { paths, store } = await openStore(cmd);
      if (o.all) {
        // The layer dirs are the overlay lowers of running steps: removing them under a build
        // made its next mount fail with "special device overlay does not exist".
        const { liveWork } = await import('../build/cache.js');
        const busy = await liveWork(paths);
        if (busy.length > 0) {
          throw new IbError(`another ib process (pid ${busy.join(', ')}) is building with this cache dir; prune --all would remove the layers it works on`, {
            hint: 'run it again when that build has finished; ib prune without --all is safe at any time',
          });
        }
        await rm(paths.steps, { recursive: true, force: true });
        await rm(paths.layers, { recursive: true, force: true });
        await openStore(cmd);
      }
      const roots: string[] = [];
      for (const f of await readdir(paths.steps).catch(() => [] as string[])) {
        const rec = JSON.parse(await readFile(join(paths.steps, f), 'utf8').catch(() => '{}')) as { layer?: { digest: string } };
        if (rec.layer) roots.push(rec.layer.digest);
      }
      // Blobs younger than 10 minutes may belong to a build that has not tagged its image yet.
      const r = await store.prune(roots, { minAgeMs: o.all ? 0 : 600_000 });
      process.stdout.write(`removed ${r.removed} blobs, ${formatBytes(r.bytes)}\n`);
    });

  const storeGroup = program.command('store').description('the local store itself');
  storeGroup
    .command('check')
    .description('verify every blob against its digest and every reference from index.json; find temp files of killed processes')
    .option('--repair', 'delete corrupt blobs and temp files of processes that are gone (nothing else)')
    .action(async (o: { repair?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const { cachePaths } = await import('../build/cache.js');
      const { checkStore } = await import('../oci/store-check.js');
      const paths = cachePaths(undefined, g.store);
      const r = await checkStore(paths.store, { layersDir: paths.layers, repair: o.repair });
      if (g.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
        const unused = r.unreferenced ? `, ${plural(r.unreferenced, 'blob')} no image uses (ib prune deletes ${r.unreferenced === 1 ? 'it' : 'them'})` : '';
        process.stdout.write(`store ${r.root}: ${plural(r.blobs, 'blob')}, ${formatBytes(r.bytes)}, ${plural(r.images, 'image')}${unused}\n`);
        for (const p of r.repaired) process.stdout.write(`repaired: deleted ${p.subject} (${p.kind})\n`);
        for (const p of r.problems) process.stdout.write(`${p.kind}: ${p.message}\n  fix: ${p.hint}\n`);
        if (r.problems.length === 0) process.stdout.write('ok\n');
      }
      if (r.problems.length > 0) {
        throw new IbError(`the store ${r.root} has ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`, { hint: 'each problem above says what to do about it' });
      }
    });

  program
    .command('export <ref> <dir>')
    .description('write the merged root tree of an image of the local store to a new directory')
    .action(async (ref: string, dir: string, _o: unknown, cmd: Command) => {
      const { paths, store } = await openStore(cmd);
      const { layerDirs } = await import('../build/index.js');
      const { flattenLayers } = await import('../tree/flatten.js');
      const { manifest, config } = await readStoreImage(store, ref);
      const layers = manifest.layers.map((l, i) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: config.rootfs.diff_ids[i]! }));
      const dirs = await layerDirs(paths, store, layers);
      await flattenLayers(dirs.reverse(), resolve(dir), paths.tmp);
    });

  program
    .command('push <src> <dest>')
    .description('push an image of the local store to a registry')
    .option('--digestfile <file>', 'write the manifest digest to this file')
    .option('--tls-verify <bool>', 'require https (default true except for localhost)')
    .option('--authfile <file>', 'credentials file')
    .action(async (src: string, dest: string, o: { digestfile?: string; tlsVerify?: string; authfile?: string }, cmd: Command) => {
      const { store } = await openStore(cmd);
      const { pushToRegistry } = await import('../deploy/push.js');
      const { tlsVerifyFlag } = await import('./tls.js');
      const digest = await pushToRegistry(store, storeTag(src), dest.replace(/^docker:\/\//, ''), { ...o, tlsVerify: tlsVerifyFlag(o.tlsVerify) });
      process.stdout.write(digest + '\n');
    });
}
