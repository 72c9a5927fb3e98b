/**
 * Booting is instantiation: an image carries nothing that must be unique per machine. Two VMs from
 * one image with the same machine-id get the same DHCP client id and journal ids; with the same SSH
 * host keys each can impersonate the other. An empty /etc/machine-id tells systemd this is the
 * first boot (ConditionFirstBoot) and it writes the new id into that file; a missing file would
 * leave a read-only root with a transient id. A first-boot unit creates the host keys.
 */
import { readdir } from 'node:fs/promises';
import { IbError } from '../errors.js';
import { removeInRoot, resolveInRoot, statInRoot, symlinkInRoot, writeFileInRoot } from './resolve.js';

export const SSH_KEYGEN_UNIT = 'ib-ssh-keygen.service';

const SSH_KEYGEN_UNIT_TEXT = `# Written by ib: images ship without SSH host keys, each machine makes its own on first boot.
[Unit]
Description=Generate SSH host keys on first boot
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key
Before=ssh.service sshd.service
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

export interface InstantiationResult {
  removed: string[];
  sshKeygenUnit: boolean;
}

/**
 * Empty /etc/machine-id, no D-Bus machine-id copy, no SSH host keys, no random seed; if sshd is in
 * the tree, `ib-ssh-keygen.service` (enabled) makes the host keys on first boot.
 */
export async function finalizeInstantiation(root: string): Promise<InstantiationResult> {
  const removed: string[] = [];
  const mid = await statInRoot(root, '/etc/machine-id', { follow: false });
  if (mid?.isDirectory()) throw new IbError('/etc/machine-id in the tree is a directory', { hint: 'remove it in the recipe; systemd needs an empty file' });
  if (!mid?.isFile() || mid.size !== 0) {
    await writeFileInRoot(root, '/etc/machine-id', '', mid?.isFile() ? {} : { mode: 0o444, uid: 0, gid: 0 });
  }

  // Debian links /var/lib/dbus/machine-id to /etc/machine-id; a regular file there is a stale copy.
  const dbus = await statInRoot(root, '/var/lib/dbus/machine-id', { follow: false });
  if (dbus?.isFile() && (await removeInRoot(root, '/var/lib/dbus/machine-id'))) removed.push('/var/lib/dbus/machine-id');
  if (await removeInRoot(root, '/var/lib/systemd/random-seed')) removed.push('/var/lib/systemd/random-seed');

  const sshDir = await resolveInRoot(root, '/etc/ssh');
  const names = await readdir(sshDir).catch(() => [] as string[]);
  for (const n of names.filter((n) => n.startsWith('ssh_host_')).sort()) {
    if (await removeInRoot(root, `/etc/ssh/${n}`)) removed.push(`/etc/ssh/${n}`);
  }

  const sshd = (await statInRoot(root, '/usr/sbin/sshd')) ?? (await statInRoot(root, '/sbin/sshd'));
  if (sshd) {
    await writeFileInRoot(root, `/usr/lib/systemd/system/${SSH_KEYGEN_UNIT}`, SSH_KEYGEN_UNIT_TEXT, { mode: 0o644, uid: 0, gid: 0 });
    // What `systemctl enable` makes for WantedBy=multi-user.target, without needing the tree's systemctl.
    await symlinkInRoot(root, `/etc/systemd/system/multi-user.target.wants/${SSH_KEYGEN_UNIT}`, `/usr/lib/systemd/system/${SSH_KEYGEN_UNIT}`);
  }
  return { removed, sshKeygenUnit: sshd !== undefined };
}
