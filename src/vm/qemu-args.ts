/**
 * The QEMU command line for booting a medium, as a pure function so a unit test can pin it.
 * q35 + `-cpu max`; the serial console on a unix socket ib reads and types into (a `file:` serial
 * is write-only), with QEMU itself keeping a complete log; the medium opened with snapshot=on so
 * booting never changes it.
 */
import { accessSync, constants, existsSync } from 'node:fs';

export type Accel = 'kvm' | 'tcg';
export type FirmwareKind = 'bios' | 'uefi';
export type Media = 'disk' | 'cdrom';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export interface QemuArgsInput {
  image: string;
  /** qemu's format name of the image (raw, qcow2, vmdk, vpc). */
  format: string;
  media: Media;
  firmware: FirmwareKind;
  accel: Accel;
  socket: string;
  log: string;
  /** A private, writable copy of OVMF_VARS (uefi only). */
  varsCopy?: string;
  memoryMiB?: number;
  cpus?: number;
  network?: boolean;
}

export function qemuArgs(i: QemuArgsInput): string[] {
  const args = [
    '-machine', 'q35',
    '-accel', i.accel,
    '-cpu', 'max',
    '-m', String(i.memoryMiB ?? 1024),
    '-smp', String(i.cpus ?? 2),
    '-display', 'none',
    '-monitor', 'none',
    '-no-reboot',
    '-chardev', `socket,id=ser0,path=${escapeOpt(i.socket)},server=on,wait=off,logfile=${escapeOpt(i.log)},logappend=off`,
    '-serial', 'chardev:ser0',
  ];
  args.push(...(i.network ? ['-nic', 'user,model=virtio-net-pci'] : ['-nic', 'none']));
  if (i.firmware === 'uefi') {
    if (!i.varsCopy) throw new Error('uefi needs a copy of the OVMF vars');
    args.push(
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${escapeOpt(OVMF_CODE)}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${escapeOpt(i.varsCopy)}`,
    );
  }
  if (i.media === 'cdrom') {
    args.push(
      '-drive', `file=${escapeOpt(i.image)},if=none,id=cd0,media=cdrom,format=raw,readonly=on`,
      '-device', 'ide-cd,drive=cd0,bootindex=0',
    );
  } else {
    args.push('-drive', `file=${escapeOpt(i.image)},if=virtio,format=${i.format},snapshot=on`);
  }
  return args;
}

/** QEMU option values escape a comma by doubling it. */
function escapeOpt(s: string): string {
  return s.replace(/,/g, ',,');
}

/**
 * `auto` picks KVM only where it works: /dev/kvm writable and not the nested paravirtual
 * kvm_pvm, under which stock Debian kernels hang after "Probing EDD".
 */
export function pickAccel(mode: 'auto' | Accel): { accel: Accel; reason: string } {
  if (mode !== 'auto') return { accel: mode, reason: 'requested' };
  if (existsSync('/sys/module/kvm_pvm')) return { accel: 'tcg', reason: '/dev/kvm is kvm_pvm, which hangs Linux guests' };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', reason: '/dev/kvm is missing or not writable' };
  }
  return { accel: 'kvm', reason: '/dev/kvm is usable' };
}
