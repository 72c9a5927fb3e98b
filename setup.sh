#!/bin/sh
# Installs everything ib and its test suite need on Debian 12: host tools from Debian's packages
# (skipped when already present) and the npm dependencies, then compiles ib.
set -eu
cd "$(dirname "$0")"

PKGS="mmdebstrap util-linux attr zstd pigz ostree e2fsprogs dosfstools mtools fdisk gdisk
grub-common grub-pc-bin grub-efi-amd64-bin xorriso squashfs-tools qemu-utils qemu-system-x86 ovmf
debian-archive-keyring libcap2-bin ca-certificates
docker-registry skopeo umoci apache2-utils docker.io"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Keep downloaded .debs between runs on the same machine.
  APT_CACHE="${IB_APT_CACHE:-/var/cache/ib-test/host-apt}"
  $SUDO mkdir -p "$APT_CACHE/partial"
  echo "setup: installing$missing" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    -o Dir::Cache::Archives="$APT_CACHE" $missing
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # Not `npm ci`: npm 11 rejects this lock file for lacking other platforms' optional rollup
  # binaries ("Missing: @rollup/rollup-android-arm-eabi"); `npm install` honours the lock as it is.
  npm install --no-audit --no-fund
fi
npm run build --silent
