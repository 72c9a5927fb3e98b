import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTar, sha256, Store } from '../oci/index.js';
import { chainIds, stackArchive, stackConfig, stackImageName } from './stack-image.js';

// Three diff IDs of a real debian-minimal image and the ChainIDs dockerd 20.10 filed them under
// (its layerdb/sha256/<chain id> directories after loading the image).
const DIFF = [
  'sha256:86ab3a88a59fab1770408d908374229789fe8a2caa07eb08f898392db69cf985',
  'sha256:3fb7a0c783670947c7e481764eebe9f0cf0a7bda77f6ea3ce4cda039f10473da',
  'sha256:34c1431dfed0ec8aec050074211b76017c5945d0d4ad0193276a07f8a892c276',
];
const CHAIN = [
  DIFF[0],
  'sha256:30c40dadb21f984d7230fcc5367d9f9aad6a6afef2c17d3f009bc22cf74d2306',
  'sha256:b1bf0218aabd5284f117f2920fcdcee25d2a7ffc958dfe93e5732ac0ee175eb2',
];

describe('chainIds', () => {
  it('are the ones dockerd computes', () => {
    expect(chainIds(DIFF)).toEqual(CHAIN);
  });

  it('name the engine image after the top of the stack', () => {
    expect(stackImageName(DIFF)).toBe(`ib-executor:${CHAIN[2]!.slice(7)}`);
    expect(() => stackImageName([])).toThrow('a step container needs at least one layer below it');
  });
});

describe('stackArchive', () => {
  let dir: string;
  let store: Store;
  const layers: { digest: string; diffId: string; size: number }[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ib-stack-'));
    store = await Store.open(join(dir, 'store'));
    for (const text of ['one', 'two', 'three']) {
      // Any bytes do for the archive's shape; dockerd checks diff IDs, not this test.
      const tmp = join(dir, text);
      await writeFile(tmp, text);
      const digest = sha256(text);
      await store.commitBlob(tmp, digest);
      layers.push({ digest, diffId: digest, size: text.length });
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function members(present: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for await (const e of readTar(stackArchive(store, layers, 'amd64', present, 'ib-executor:x'))) {
      const parts: Buffer[] = [];
      for await (const c of e.body) parts.push(c);
      out.set(e.header.name, Buffer.concat(parts).toString());
    }
    return out;
  }

  it('holds config, layers and a manifest naming every layer', async () => {
    const m = await members(0);
    const hex = (d: string) => d.slice(7);
    const config = stackConfig(layers.map((l) => l.diffId), 'amd64');
    expect([...m.keys()]).toEqual([
      `${hex(sha256(config))}.json`,
      hex(layers[0]!.diffId), `${hex(layers[0]!.diffId)}/layer.tar`,
      hex(layers[1]!.diffId), `${hex(layers[1]!.diffId)}/layer.tar`,
      hex(layers[2]!.diffId), `${hex(layers[2]!.diffId)}/layer.tar`,
      'manifest.json',
    ]);
    expect(m.get(`${hex(layers[1]!.diffId)}/layer.tar`)).toBe('two');
    expect(JSON.parse(m.get('manifest.json')!)).toEqual([{
      Config: `${hex(sha256(config))}.json`, RepoTags: ['ib-executor:x'], Layers: layers.map((l) => `${hex(l.diffId)}/layer.tar`),
    }]);
    expect(JSON.parse(m.get(`${hex(sha256(config))}.json`)!)).toEqual({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } });
  });

  it('leaves out the tars of the layers the engine already has, but still names them', async () => {
    const m = await members(2);
    expect([...m.keys()].filter((n) => n.endsWith('layer.tar'))).toEqual([`${layers[2]!.diffId.slice(7)}/layer.tar`]);
    expect((JSON.parse(m.get('manifest.json')!) as { Layers: string[] }[])[0]!.Layers).toHaveLength(3);
  });
});
