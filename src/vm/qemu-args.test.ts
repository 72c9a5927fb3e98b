import { describe, expect, it } from 'vitest';
import { pickAccel, qemuArgs } from './qemu-args.js';

describe('qemuArgs', () => {
  const base = { image: '/i/disk,1.qcow2', format: 'qcow2', socket: '/w/s.sock', log: '/w/c.log', accel: 'tcg' as const };

  it('boots a disk under SeaBIOS as a virtio snapshot with the serial on a socket', () => {
    expect(qemuArgs({ ...base, media: 'disk', firmware: 'bios' })).toEqual([
      '-machine', 'q35', '-accel', 'tcg', '-cpu', 'max', '-m', '1024', '-smp', '2', '-display', 'none', '-monitor', 'none',
      '-no-reboot',
      '-chardev', 'socket,id=ser0,path=/w/s.sock,server=on,wait=off,logfile=/w/c.log,logappend=off',
      '-serial', 'chardev:ser0',
      '-nic', 'none',
      '-drive', 'file=/i/disk,,1.qcow2,if=virtio,format=qcow2,snapshot=on',
    ]);
  });

  it('boots a CD under OVMF with a private vars copy', () => {
    const a = qemuArgs({ ...base, image: '/i/live.iso', format: 'raw', media: 'cdrom', firmware: 'uefi', varsCopy: '/w/vars.fd' });
    expect(a.join(' ')).toContain('-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=/w/vars.fd');
    expect(a.join(' ')).toContain('-drive file=/i/live.iso,if=none,id=cd0,media=cdrom,format=raw,readonly=on -device ide-cd,drive=cd0,bootindex=0');
  });
});

describe('pickAccel', () => {
  it('honours an explicit choice and picks TCG on this kvm_pvm host', () => {
    expect(pickAccel('kvm').accel).toBe('kvm');
    expect(pickAccel('tcg').accel).toBe('tcg');
    // The test machines run under kvm_pvm, where KVM hangs Linux guests.
    expect(pickAccel('auto')).toEqual({ accel: 'tcg', reason: '/dev/kvm is kvm_pvm, which hangs Linux guests' });
  });
});
