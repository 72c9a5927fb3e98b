import { describe, expect, it } from 'vitest';
import { changesList, changesTarArgs } from './changes.js';
import { containerOptions } from './container.js';

describe('containerOptions', () => {
  it('a step container has no network, no entrypoint of the image, and its binds and tmpfs', () => {
    expect(containerOptions({
      image: 'ib-executor:abc', hostname: 'builder',
      binds: [{ src: '/c/apt/archives', dst: '/var/cache/apt/archives' }, { src: '/c/stubs', dst: '/run/ib/bin', readonly: true }],
      tmpfs: { '/run': 'mode=755', '/tmp': 'mode=1777' },
    })).toEqual({
      Image: 'ib-executor:abc',
      Cmd: ['sleep', 'infinity'],
      Hostname: 'builder',
      Entrypoint: [],
      User: '0:0',
      WorkingDir: '/',
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        Binds: ['/c/apt/archives:/var/cache/apt/archives', '/c/stubs:/run/ib/bin:ro'],
        Tmpfs: { '/run': 'mode=755', '/tmp': 'mode=1777' },
        AutoRemove: false,
      },
    });
  });
});

describe('reading changes back', () => {
  it('lists what was added or changed, NUL-separated and relative, never what was deleted', () => {
    const list = changesList([
      { path: '/etc', kind: 'modified' },
      { path: '/etc/apt/preferences.d', kind: 'deleted' },
      { path: '/etc/motd', kind: 'modified' },
      { path: '/etc/new file\nwith newline', kind: 'added' },
    ]);
    expect(list.toString().split('\0')).toEqual(['etc', 'etc/motd', 'etc/new file\nwith newline', '']);
  });

  it('archives exactly those paths with the image\'s GNU tar, xattrs included', () => {
    expect(changesTarArgs({ host: '/h/io', container: '/run/ib/io' })).toEqual([
      'tar', '--create', '--file', '/run/ib/io/changes.tar',
      '--directory', '/',
      '--no-recursion', '--null', '--verbatim-files-from', '--files-from', '/run/ib/io/changes.list',
      '--format=posix', '--pax-option=delete=atime,delete=ctime',
      '--numeric-owner', '--xattrs', '--xattrs-include=*',
    ]);
  });
});
