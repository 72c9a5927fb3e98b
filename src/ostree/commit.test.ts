/** The exact `ostree commit` argv, and the refusals that come before any write. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { commitArgs, ensureRepo, ostreeCommit } from './commit.js';

const dir = mkdtempSync(join(tmpdir(), 'ib-ostree-commit-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('argv: bootable, no parent, timestamp from SOURCE_DATE_EPOCH, metadata sorted', () => {
  expect(commitArgs({
    tree: '/t', repo: '/r', branch: 'debian/12/x86_64', subject: 'hello', version: '12.1',
    metadata: { 'z.key': 'z', 'a.key': 'a' }, sourceDateEpoch: 1700000000,
  })).toEqual([
    '--repo=/r', 'commit', '--branch=debian/12/x86_64', '--bootable', '--parent=none', '--timestamp=@1700000000', '--tree=dir=/t',
    '--subject=hello', '--add-metadata-string=a.key=a', '--add-metadata-string=version=12.1', '--add-metadata-string=z.key=z',
  ]);
});

test('a non-empty directory that is not a repo is refused, and left alone', async () => {
  const d = join(dir, 'notrepo');
  mkdirSync(d);
  writeFileSync(join(d, 'precious'), 'x');
  await expect(ensureRepo(d, 'archive')).rejects.toMatchObject({
    message: `${d} is not an ostree repository and not empty`,
    hint: 'give the path of an ostree repository, or a new directory',
  });
});

test('a bad branch name or an unprepared tree is refused', async () => {
  await expect(ostreeCommit({ tree: dir, repo: join(dir, 'r'), branch: 'bad branch', sourceDateEpoch: 0 })).rejects.toMatchObject({
    message: 'invalid ostree branch name "bad branch"',
  });
  mkdirSync(join(dir, 'tree/etc'), { recursive: true });
  await expect(ostreeCommit({ tree: join(dir, 'tree'), repo: join(dir, 'r'), branch: 'x', sourceDateEpoch: 0 })).rejects.toMatchObject({
    message: `${join(dir, 'tree')} is not prepared for ostree (expected /usr/etc and no /etc)`,
  });
});
