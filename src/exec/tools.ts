/**
 * The host tools ib drives and the Debian package that ships each one: `ib doctor` reads this
 * table, and `run()` uses it to say which package to install when a tool is missing.
 */
export interface HostTool {
  tool: string;
  pkg: string;
  /** What needs it, shown by `ib doctor`. */
  for: string;
  /** Only tests and benchmarks need it. */
  dev?: boolean;
}

export const HOST_TOOLS: HostTool[] = [
  { tool: 'mmdebstrap', pkg: 'mmdebstrap', for: 'bootstrapping Debian trees' },
  { tool: 'unshare', pkg: 'util-linux', for: 'isolated build steps' },
  { tool: 'getfattr', pkg: 'attr', for: 'reading xattrs (file capabilities)' },
  { tool: 'setfattr', pkg: 'attr', for: 'writing xattrs' },
  { tool: 'zstd', pkg: 'zstd', for: 'zstd layers and squashfs' },
  { tool: 'pigz', pkg: 'pigz', for: 'parallel gzip of layers' },
  { tool: 'mknod', pkg: 'coreutils', for: 'whiteouts and device nodes of unpacked layers' },
  { tool: 'setcap', pkg: 'libcap2-bin', for: 'tests: file capabilities round trip', dev: true },
  { tool: 'getcap', pkg: 'libcap2-bin', for: 'tests: file capabilities round trip', dev: true },
  { tool: 'apt-get', pkg: 'apt', for: '--executor docker: resolving and downloading packages on the host' },
  { tool: 'ostree', pkg: 'ostree', for: 'ostree commits and deployments' },
  { tool: 'mkfs.ext4', pkg: 'e2fsprogs', for: 'root filesystems' },
  { tool: 'mkfs.vfat', pkg: 'dosfstools', for: 'EFI system partitions' },
  { tool: 'mcopy', pkg: 'mtools', for: 'filling FAT images without mounting' },
  { tool: 'mmd', pkg: 'mtools', for: 'directories in FAT images without mounting' },
  { tool: 'debugfs', pkg: 'e2fsprogs', for: 'reproducible ext4 inode times' },
  { tool: 'dumpe2fs', pkg: 'e2fsprogs', for: 'reproducible ext4 inode times' },
  { tool: 'nsenter', pkg: 'util-linux', for: 'reading input trees through a no-atime view' },
  { tool: 'setpriv', pkg: 'util-linux', for: 'VMs and views that die with ib' },
  { tool: 'sfdisk', pkg: 'fdisk', for: 'partition tables' },
  { tool: 'grub-mkimage', pkg: 'grub-common', for: 'GRUB images' },
  { tool: 'xorriso', pkg: 'xorriso', for: 'live ISOs' },
  { tool: 'mksquashfs', pkg: 'squashfs-tools', for: 'live ISO root filesystems' },
  { tool: 'qemu-img', pkg: 'qemu-utils', for: 'qcow2/vmdk/vhd images' },
  { tool: 'qemu-system-x86_64', pkg: 'qemu-system-x86', for: 'ib boot' },
  { tool: 'docker-registry', pkg: 'docker-registry', for: 'tests: the OCI registry server', dev: true },
  { tool: 'skopeo', pkg: 'skopeo', for: 'tests: interop checks', dev: true },
  { tool: 'umoci', pkg: 'umoci', for: 'tests: interop checks', dev: true },
  { tool: 'htpasswd', pkg: 'apache2-utils', for: 'tests: a registry with basic auth', dev: true },
  { tool: 'dockerd', pkg: 'docker.io', for: 'tests: the docker-daemon: transport', dev: true },
];

/** Files (not commands) that packages provide. */
export const HOST_FILES: { path: string; pkg: string; for: string }[] = [
  { path: '/usr/lib/grub/i386-pc/boot.img', pkg: 'grub-pc-bin', for: 'BIOS boot' },
  { path: '/usr/lib/grub/x86_64-efi/linux.mod', pkg: 'grub-efi-amd64-bin', for: 'UEFI boot' },
  { path: '/usr/share/OVMF/OVMF_CODE_4M.fd', pkg: 'ovmf', for: 'ib boot --firmware uefi' },
  { path: '/usr/lib/grub/i386-pc/boot_hybrid.img', pkg: 'grub-pc-bin', for: 'hybrid (USB-bootable) live ISOs' },
  { path: '/usr/share/keyrings/debian-archive-keyring.gpg', pkg: 'debian-archive-keyring', for: 'verifying the Debian mirror' },
];

export function packageForTool(tool: string): string | undefined {
  return HOST_TOOLS.find((t) => t.tool === tool)?.pkg;
}
