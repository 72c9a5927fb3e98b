/**
 * The GVariant decoders against objects written by the real `ostree` CLI, in every repo mode ib
 * reads, for a tree with a file carrying xattrs, an empty file, a symlink and a subdirectory.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodeXattrs } from './gvariant.js';
import { OstreeRepo, S_IFLNK, S_IFREG, metaBool, metaString } from './repo.js';

let dir: string;
const ostree = (...args: string[]) => execFileSync('ostree', args, { encoding: 'utf8' }).trim();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ib-ostree-repo-'));
  const t = join(dir, 'tree');
  mkdirSync(join(t, 'sub/deeper'), { recursive: true });
  writeFileSync(join(t, 'hello'), 'hello\n');
  execFileSync('setfattr', ['-n', 'user.foo', '-v', 'bar', join(t, 'hello')]);
  execFileSync('setfattr', ['-n', 'user.a', '-v', 'zz', join(t, 'hello')]);
  writeFileSync(join(t, 'empty'), '');
  writeFileSync(join(t, 'sub/tool'), '#!/bin/sh\n');
  chmodSync(join(t, 'sub/tool'), 0o4755);
  symlinkSync('hello', join(t, 'link'));
  chmodSync(join(t, 'sub'), 0o750);
  for (const mode of ['archive', 'bare-user', 'bare']) {
    ostree(`--repo=${join(dir, mode)}`, 'init', `--mode=${mode}`);
    ostree(`--repo=${join(dir, mode)}`, 'commit', '--branch=test/x', '--timestamp=@1700000000', '--subject=hi there', '--add-metadata-string=version=1.2', '--add-metadata=ostree.bootable=true', `--tree=dir=${t}`);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(['archive', 'bare-user', 'bare'])('%s repo', (mode) => {
  test('commit, dirtree, dirmeta and file objects decode to what ostree shows', async () => {
    const repoPath = join(dir, mode);
    const repo = await OstreeRepo.open(repoPath);
    expect(repo.mode).toBe(mode);
    const csum = await repo.resolveRev('test/x');
    expect(csum).toBe(ostree(`--repo=${repoPath}`, 'rev-parse', 'test/x'));
    const c = await repo.readCommit(csum);
    expect(c.subject).toBe('hi there');
    expect(c.timestamp).toBe(1700000000);
    expect(c.parent).toBeUndefined();
    expect(metaString(c, 'version')).toBe('1.2');
    expect(metaBool(c, 'ostree.bootable')).toBe(true);
    const [, , , , contents, meta] = ostree(`--repo=${repoPath}`, 'ls', '-C', '-d', 'test/x', '/').split(/\s+/);
    expect([c.rootContents, c.rootMeta]).toEqual([contents, meta]);

    const root = await repo.readDirTree(c.rootContents);
    expect(root.files.map((f) => f.name)).toEqual(['empty', 'hello', 'link']);
    expect(root.dirs.map((d) => d.name)).toEqual(['sub']);
    const sub = await repo.readDirMeta(root.dirs[0]!.meta);
    expect(sub.mode).toBe(0o40750);
    expect(sub.xattrs.length).toBe(0);
    const subtree = await repo.readDirTree(root.dirs[0]!.contents);
    expect(subtree.dirs.map((d) => d.name)).toEqual(['deeper']);

    const byName = Object.fromEntries(root.files.map((f) => [f.name, f.checksum]));
    expect(byName.hello).toBe(ostree(`--repo=${repoPath}`, 'ls', '-C', 'test/x', '/hello').split(/\s+/)[4]);
    const hello = await repo.loadFile(byName.hello!);
    expect(hello).toMatchObject({ uid: 0, gid: 0, mode: S_IFREG | 0o644, size: 6 });
    expect(hello.xattrs.equals(encodeXattrs({ 'user.a': Buffer.from('zz'), 'user.foo': Buffer.from('bar') }))).toBe(true);
    expect(await text(await repo.openContent(byName.hello!))).toBe('hello\n');
    const empty = await repo.loadFile(byName.empty!);
    expect(empty.size).toBe(0);
    expect(await text(await repo.openContent(byName.empty!))).toBe('');
    const link = await repo.loadFile(byName.link!);
    expect(link).toMatchObject({ mode: S_IFLNK | 0o777, size: 0, symlinkTarget: 'hello' });
    expect(link.xattrs.length).toBe(0);
    const tool = await repo.loadFile(subtree.files[0]!.checksum);
    expect(tool.mode).toBe(S_IFREG | 0o4755);
  });
});

test('a directory that is not a repo is refused with a hint', async () => {
  await expect(OstreeRepo.open(dir)).rejects.toMatchObject({
    message: `${dir} is not an ostree repository (no config file)`,
    hint: `create one with: ostree --repo=${dir} init --mode=archive   (or give the path of an existing repo)`,
  });
});

test('an unknown ref names the repo and how to list refs', async () => {
  const repo = await OstreeRepo.open(join(dir, 'archive'));
  await expect(repo.resolveRev('nope')).rejects.toMatchObject({ message: `ref nope not found in ostree repository ${join(dir, 'archive')}` });
});
