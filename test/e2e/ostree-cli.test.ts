/**
 * The ostree chain through the CLI, as a user runs it: a recipe that adds layers/platform/ostree
 * on top of debian-minimal's layers → `ib ostree container` (a bootc-style image) → `ib disk
 * --ostree` → `ib boot --exec`: the guest booted through ostree-prepare-root, with /boot on its
 * own partition and the deployment's version from the image label.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ibOk } from '../helpers/ib.js';

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
  }, 1_800_000);
});
