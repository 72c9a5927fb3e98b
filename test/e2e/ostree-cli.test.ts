/**
 * The ostree chain through the CLI, as a user runs it: a recipe that adds layers/platform/ostree
 * on top of debian-minimal's layers → `ib ostree container` (a bootc-style image) → `ib disk
 * --ostree` → `ib boot --exec`: the guest booted through ostree-prepare-root, with /boot on its
 * own partition and the deployment's version from the image label. Then `ib disk NEWREF --ostree
 * --update DISK` deploys a derived image onto that disk offline: UEFI boots the new commit, and
 * the menu's second entry the previous one.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { bootImage } from '../../src/vm/index.js';
import { ib, ibOk } from '../helpers/ib.js';

const base = inject('baseImage');
const work = mkdtempSync('/var/tmp/ib-e2e-ostree-cli-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('ib ostree container + ib disk --ostree + ib boot', () => {
  it('boots the deployed commit under UEFI', async () => {
    const opts = { cacheDir: base.cacheDir };
    await ibOk(['build', 'recipes/debian-ostree.yaml', '--tag', 'test/debian-ostree:1'], opts);
    const container = await ibOk(['ostree', 'container', 'test/debian-ostree:1', '--tag', 'test/debian-ostree:bootable'], opts);
    const info = JSON.parse((await ibOk(['inspect', 'test/debian-ostree:bootable', '--config'], opts)).stdout) as { config: { Labels: Record<string, string> } };
    expect(info.config.Labels['containers.bootc']).toBe('1');
    expect(info.config.Labels['ostree.bootable']).toBe('true');
    expect(container.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const disk = join(work, 'ostree.qcow2');
    await ibOk(['disk', 'test/debian-ostree:bootable', '--ostree', '-o', disk], opts);
    const boot = await ibOk(['boot', disk, '--firmware', 'uefi', '--timeout', '900', '--exec',
      'cat /proc/cmdline; test -e /run/ostree-booted && echo OSTREE-BOOTED; findmnt -n -o SOURCE /boot; ostree admin status'], opts);
    expect(boot.stdout).toContain('OSTREE-BOOTED');
    expect(boot.stdout).toMatch(/ostree=\/ostree\/boot\.\d\/debian\//);
    expect(boot.stdout).toContain('/dev/vda3');
    expect(boot.stdout).toContain('Version: 12.20261122.0');
    const first = /^\* debian ([0-9a-f]{64})\.0/m.exec(boot.stdout)?.[1];
    expect(first).toBeDefined();

    // A second image: the same system plus one file, deployed onto the disk offline.
    const motd = join(work, 'motd');
    writeFileSync(motd, 'ib update test\n');
    await ibOk(['derive', 'from', 'test/debian-ostree:1', '--file', `${motd}:/etc/ib-update-test`, '--tag', 'test/debian-ostree:2'], opts);
    const before = statSync(disk).mtimeMs;
    const bad = await ib(['disk', 'test/debian-ostree:2', '--update', disk], opts);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--update works on ostree disks only');
    expect(statSync(disk).mtimeMs).toBe(before);
    const up = await ibOk(['disk', 'test/debian-ostree:2', '--ostree', '--update', disk], opts);
    expect(up.stderr).toMatch(/updated .*ostree\.qcow2: boots [0-9a-f]{64} by default/);
    const again = await ibOk(['disk', 'test/debian-ostree:2', '--ostree', '--update', disk], opts);
    expect(again.stderr).toContain('already boots');

    const status = 'ostree admin status | sed -n "s/^\\* debian \\([0-9a-f]*\\)\\.0$/\\1/p"; cat /etc/ib-update-test 2>/dev/null || echo no-file';
    const latest = await bootImage({ image: disk, firmware: 'uefi', timeoutSec: 900, exec: status });
    const [newCommit, file] = latest.exec!.output.trim().split('\n');
    expect(newCommit).toMatch(/^[0-9a-f]{64}$/);
    expect(newCommit).not.toBe(first);
    expect(file).toBe('ib update test');
    // The GRUB menu on the serial console: down arrow, Enter — the previous deployment.
    const previous = await bootImage({ image: disk, firmware: 'uefi', timeoutSec: 900, exec: status, answers: [{ expect: /GNU GRUB/, send: '\x1b[B\r' }] });
    expect(previous.exec!.output.trim().split('\n')).toEqual([first, 'no-file']);
    console.log(`ib disk --update: new ${latest.seconds.toFixed(1)} s, rollback entry ${previous.seconds.toFixed(1)} s (uefi)`);
  }, 2_700_000);
});
