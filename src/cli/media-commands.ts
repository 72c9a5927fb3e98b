import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { GlobalOptions } from './main.js';
import { tlsVerifyFlag } from './tls.js';

const many = (v: string, prev: string[] = []) => [...prev, v];

function parseBoot(v: string): ('bios' | 'uefi')[] {
  const out = v.split(',').map((s) => s.trim());
  for (const b of out) if (b !== 'bios' && b !== 'uefi') throw new UsageError(`--boot: unknown firmware "${b}", valid values are bios, uefi`);
  return out as ('bios' | 'uefi')[];
}

export function registerMediaCommands(program: Command): void {
  program
    .command('disk <ref>')
    .description('make a bootable disk image (GPT, ext4 root, GRUB for BIOS and UEFI) from an image')
    .option('-o, --output <file>', 'the disk image to write (with --update: where the updated disk goes, default DISK itself)')
    .option('--format <fmt>', 'raw, qcow2, vmdk or vhd (default: from the file name, else qcow2)')
    .option('--size <size>', 'disk size, e.g. 4G (default: the tree plus headroom; the root grows on first boot)')
    .option('--boot <list>', 'firmware to support: bios,uefi', parseBoot, ['bios', 'uefi'])
    .option('--karg <arg>', 'extra kernel argument (repeatable)', many)
    .option('--ostree', 'deploy the image\'s ostree commit (an ostree-native container, or a plain image committed on the fly) with a separate /boot, upgradable in place')
    .option('--os <name>', 'ostree stateroot name (with --ostree)', 'debian')
    .option('--update <disk>', 'with --ostree: deploy the image onto this existing ostree disk offline; the disk\'s current deployment stays as the rollback (second menu entry)')
    .option('--tls-verify <bool>', 'require https when pulling (default true except for localhost)')
    .option('--authfile <file>', 'credentials file')
    .action(async (ref: string, o: { output?: string; format?: string; size?: string; boot: ('bios' | 'uefi')[]; karg?: string[]; ostree?: boolean; os: string; update?: string; tlsVerify?: string; authfile?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      if (o.update) {
        if (!o.ostree) throw new UsageError('--update works on ostree disks only', { hint: `ib disk ${ref} --ostree --update ${o.update}` });
        for (const [flag, set] of [['--size', o.size], ['--karg', o.karg], ['--format', o.format]] as const) {
          if (set) throw new UsageError(`${flag} cannot be used with --update`, { hint: 'the disk keeps its size, format and kernel arguments; make a new disk to change them' });
        }
        const { updateOstreeDisk } = await import('../deploy/ostree-update.js');
        const res = await updateOstreeDisk(o.update, ref, { store: g.store, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile, output: o.output, osName: o.os });
        process.stderr.write(res.unchanged ? `${res.output} already boots ${res.commit}\n` : `updated ${res.output}: boots ${res.commit} by default (${res.seconds.toFixed(1)}s)\n`);
        process.stdout.write(`${res.output}\n`);
        return;
      }
      if (!o.output) throw new UsageError('the disk to write is missing', { hint: `ib disk ${ref} -o disk.qcow2` });
      if (o.ostree) {
        const { buildOstreeDiskFromImage } = await import('../deploy/ostree-disk.js');
        const output = resolve(o.output);
        const format = o.format ?? (/\.(raw|img)$/.test(output) ? 'raw' : /\.vmdk$/.test(output) ? 'vmdk' : /\.vhd$/.test(output) ? 'vhd' : 'qcow2');
        const res = await buildOstreeDiskFromImage(ref, { store: g.store, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile, output, format, size: o.size, boot: o.boot, kargs: o.karg, osName: o.os });
        process.stdout.write(`${res.output}\n`);
        return;
      }
      const { withImageTree } = await import('../deploy/image-tree.js');
      const { buildDisk } = await import('../disk/index.js');
      const output = resolve(o.output);
      const format = o.format ?? (/\.(raw|img)$/.test(output) ? 'raw' : /\.vmdk$/.test(output) ? 'vmdk' : /\.vhd$/.test(output) ? 'vhd' : 'qcow2');
      const res = await withImageTree(ref, { store: g.store, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile }, (t) => {
        const fromImage = t.kargs.filter((k) => !/^(root|console)=/.test(k) && k !== 'ro' && k !== 'rw');
        return buildDisk({
          tree: t.tree, output, format, size: o.size, boot: o.boot, kargs: [...fromImage, ...(o.karg ?? [])],
          seed: `${t.image.ref}@${t.image.manifestDigest}`, sourceDateEpoch: t.sourceDateEpoch,
        });
      });
      process.stdout.write(`${res.output}\n`);
    });

  program
    .command('iso <ref>')
    .description('make a hybrid live ISO (squashfs root, GRUB for BIOS and UEFI, bootable as CD or USB stick) from an image')
    .requiredOption('-o, --output <file>', 'the ISO to write')
    .option('--label <label>', 'ISO volume label (A-Z 0-9 _)', 'IB_LIVE')
    .option('--karg <arg>', 'extra kernel argument (repeatable)', many)
    .option('--compression <c>', 'squashfs compression: zstd (default) or xz', 'zstd')
    .option('--tls-verify <bool>', 'require https when pulling (default true except for localhost)')
    .option('--authfile <file>', 'credentials file')
    .action(async (ref: string, o: { output: string; label: string; karg?: string[]; compression: string; tlsVerify?: string; authfile?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const { withImageTree } = await import('../deploy/image-tree.js');
      const { withLiveBoot } = await import('../deploy/live.js');
      const { buildIso, checkLabel } = await import('../iso/index.js');
      checkLabel(o.label);
      if (o.compression !== 'zstd' && o.compression !== 'xz') throw new UsageError(`--compression: "${o.compression}" is not valid; use zstd or xz`);
      const topts = { store: g.store, tlsVerify: tlsVerifyFlag(o.tlsVerify), authfile: o.authfile };
      const liveRef = await withLiveBoot(ref, topts);
      const res = await withImageTree(liveRef, topts, (t) => {
        const fromImage = t.kargs.filter((k) => !/^(root|console|boot)=/.test(k) && k !== 'ro' && k !== 'rw');
        return buildIso({ tree: t.tree, output: resolve(o.output), label: o.label, kargs: [...fromImage, ...(o.karg ?? [])], compression: o.compression, sourceDateEpoch: t.sourceDateEpoch });
      });
      process.stderr.write(`wrote ${res.output}: ${(res.bytes / 1048576).toFixed(0)} MiB in ${res.seconds.toFixed(1)}s\n`);
      process.stdout.write(`${res.output}\n`);
    });

  program
    .command('boot <image>')
    .description('boot a disk image or ISO in QEMU and wait for the expected console text')
    .option('--firmware <fw>', 'bios or uefi', 'bios')
    .option('--media <media>', 'disk or cdrom (default: cdrom for .iso)')
    .option('--expect <text>', 'text that proves the boot worked', 'login:')
    .option('--timeout <s>', 'seconds to wait', (v) => Number(v), 300)
    .option('--accel <a>', 'auto, kvm or tcg (auto uses KVM only where it really works)', 'auto')
    .option('--exec <cmds>', 'log in on the console and run these shell commands; their output is printed')
    .option('--user <name>', 'login for --exec', 'root')
    .option('--password <pw>', 'password for --exec', 'root')
    .option('--interactive', 'hand the serial console to this terminal after boot (Ctrl-] quits)')
    .option('--memory <MiB>', 'guest memory', (v) => Number(v), 1024)
    .action(async (image: string, o: { firmware: string; media?: string; expect: string; timeout: number; accel: string; exec?: string; user: string; password: string; interactive?: boolean; memory: number }) => {
      const { bootImage } = await import('../vm/index.js');
      if (o.firmware !== 'bios' && o.firmware !== 'uefi') throw new UsageError(`--firmware: "${o.firmware}" is not valid; use bios or uefi`);
      if (!['auto', 'kvm', 'tcg'].includes(o.accel)) throw new UsageError(`--accel: "${o.accel}" is not valid; use auto, kvm or tcg`);
      if (o.media && o.media !== 'disk' && o.media !== 'cdrom') throw new UsageError(`--media: "${o.media}" is not valid; use disk or cdrom`);
      const r = await bootImage({
        image: resolve(image), firmware: o.firmware, media: o.media as 'disk' | 'cdrom' | undefined, expect: o.expect, timeoutSec: o.timeout,
        accel: o.accel as 'auto' | 'kvm' | 'tcg', exec: o.exec, user: o.user, password: o.password, interactive: o.interactive, memoryMiB: o.memory,
      });
      process.stderr.write(`booted to "${r.matched.trim()}" in ${r.seconds.toFixed(1)}s (${r.accel}); console log: ${r.log}\n`);
      if (r.exec) {
        process.stdout.write(r.exec.output);
        if (r.exec.exitCode !== 0) process.exitCode = 1;
      }
    });
}
