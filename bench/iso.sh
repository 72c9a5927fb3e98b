#!/bin/sh
# Recipe → live ISO: `ib build recipes/debian-live.yaml` (debian-minimal's layers + live-boot, and
# `outputs: {iso: …}`: squashfs zstd, GRUB BIOS+UEFI, hybrid) from an empty build cache and store vs
# live-build (`lb config` + `lb build`, iso-hybrid, squashfs zstd) of the same package set plus
# live-boot, alternating A B A B (PAIRS, default 3). Both keep a warm .deb cache (live-build's
# cache/packages.* persist in the bench cache). live-build's bootstrap-stage cache stays on (its
# installer stage copies cache/bootstrap even with --debian-installer none) but is deleted before
# every run, as ib's build cache is empty. Only the Debian mirror is used: live-build's security mirror is off.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
ib_has iso || exit 1
need_cmd lb live-build debootstrap cpio xz-utils rsync apt-utils file
CACHE=$(bench_cache)
WORK=$(mktemp -d /var/tmp/ib-bench-iso.XXXXXX)
LBCACHE=$BENCH_CACHE/lb-cache
PKGS="systemd-sysv udev passwd login kmod e2fsprogs iproute2 ifupdown zstd iputils-ping isc-dhcp-client"

# A failed lb build can leave proc/sysfs/devpts mounted in its chroot: unmount before deleting.
unmount_under() { grep -o " $1/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done; }
cleanup() { unmount_under "$WORK"; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$LBCACHE/packages.bootstrap" "$LBCACHE/packages.chroot"
ls "$LBCACHE"/packages.chroot/*.deb >/dev/null 2>&1 || {
  seed_archives "$LBCACHE/packages.chroot"; rm -rf "$LBCACHE/packages.chroot/partial"; }

# Each lb run gets a fresh config dir whose cache/ is the persistent package cache.
LB="cd $WORK/lb && lb config --distribution bookworm --archive-areas main --mode debian \
  --mirror-bootstrap $MIRROR_URL --mirror-chroot $MIRROR_URL --mirror-binary $MIRROR_URL \
  --security false --updates true --apt-recommends false --apt-indices false \
  --initramfs live-boot --initsystem none --linux-flavours amd64 \
  --binary-images iso-hybrid --bootloaders 'syslinux grub-efi' --uefi-secure-boot disable \
  --debian-installer none --memtest none --firmware-binary false --firmware-chroot false \
  --win32-loader false --zsync false --checksums none \
  --chroot-squashfs-compression-type zstd --cache-packages true --cache-stages bootstrap && \
  echo '$PKGS' | tr ' ' '\n' > config/package-lists/ib.list.chroot && lb build"
IB="cd $WORK && $PWD/ib --cache-dir $WORK/ib -q build $PWD/recipes/debian-live.yaml && mv debian-live.iso ib.iso"
fresh() {
  case $1 in
    ib*) rm -rf "$WORK/ib" && mkdir -p "$WORK/ib/apt" && ln -s "$CACHE/apt/archives" "$WORK/ib/apt/archives" ;;
    live-build) unmount_under "$WORK/lb"; rm -rf "$WORK/lb" "$LBCACHE/bootstrap" && mkdir -p "$WORK/lb" && ln -s "$LBCACHE" "$WORK/lb/cache" ;;
  esac
}

# Warm the .deb caches once (not measured): ib's bench cache; live-build's on its first run here.
./ib --cache-dir "$CACHE" -q build --no-outputs recipes/debian-live.yaml >/dev/null
if [ ! -e "$LBCACHE/.warm" ]; then
  echo "bench: warming live-build's package cache (not measured)" >&2
  fresh live-build; sh -c "$LB" >"$WORK/lb-warm.log" 2>&1 || { tail -30 "$WORK/lb-warm.log" >&2; exit 1; }
  touch "$LBCACHE/.warm"
fi
PREP=fresh
alternate ib "$IB" live-build "$LB"
report "recipe → live ISO (empty build cache, warm .debs)" ib live-build live-build
ls -l "$WORK/ib.iso" "$WORK"/lb/*.iso >&2
