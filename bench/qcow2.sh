#!/bin/sh
# Recipe → bootable qcow2: `ib build recipes/debian-minimal.yaml` + `ib disk IMAGE -o x.qcow2`
# (GPT, ext4, GRUB BIOS+UEFI) vs mkosi 14 (Debian 12's; gpt_ext4 + QCow2=yes, UEFI systemd-boot
# + UKI, the only boot path it has) run through the shared peer wrapper
# /work/shared/peers/mkosi/run-mkosi.sh (read its comments: no vfat here, nspawn quirks).
# Same package set: debian-minimal's packages (mkosi adds dracut and systemd-boot for Bootable=yes
# in place of initramfs-tools). Both keep a warm .deb cache; alternating A B A B (PAIRS, default 3):
#   cold:        empty ib build cache and store / `mkosi -ff` (drops its incremental images)
#   incremental: nothing changed, caches warm / `mkosi -f` with Incremental=yes
# mkosi fetches only from the Debian mirror: mkosi 14 writes a bookworm-security source pointing at
# https://security.debian.org (not the mirror; unreachable here) and then runs apt-get update; a
# skeleton tree, copied in between those two for Debian, replaces that file with a comment.
# (With LocalMirror= instead, mkosi's apt-get update exited 100 here, most likely on the
# [trusted=yes] duplicate of the main source it adds.)
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
need_cmd mkosi mkosi systemd-container debootstrap dosfstools mtools
need_cmd qemu-img qemu-utils
PEER=${MKOSI_PEER:-/work/shared/peers/mkosi}
[ -x "$PEER/run-mkosi.sh" ] || { echo "bench: $PEER/run-mkosi.sh not found (set MKOSI_PEER)" >&2; exit 1; }
CACHE=$(bench_cache)
WORK=$(mktemp -d /var/tmp/ib-bench-qcow2.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The peer dir is shared and read-only: run a private copy (run-mkosi.sh writes beside itself).
cp -a "$PEER" "$WORK/mkosi"
chmod -R u+w "$WORK/mkosi"
MKCACHE=$BENCH_CACHE/mkosi-cache
seed_archives "$MKCACHE/debian~bookworm"
cat > "$WORK/mkosi/mkosi.conf" <<CONF
[Distribution]
Distribution=debian
Release=bookworm
Mirror=$MIRROR_URL

[Output]
Incremental=yes
Format=gpt_ext4
Bootable=yes
QCow2=yes
Output=image.qcow2
OutputDirectory=out

[Content]
Packages=systemd-sysv,linux-image-amd64,zstd,udev,passwd,login,e2fsprogs,kmod,ifupdown,iproute2,iputils-ping,isc-dhcp-client
Cache=$MKCACHE

[Partitions]
RootSize=3G

[Host]
WithNetwork=yes
NspawnKeepUnit=yes
CONF
mkdir -p "$WORK/mkosi/mkosi.skeleton/etc/apt/sources.list.d"
echo "# bench: the Debian mirror only" > "$WORK/mkosi/mkosi.skeleton/etc/apt/sources.list.d/bookworm-security.list"
MK="cd $WORK/mkosi && ./run-mkosi.sh"

# Warm both .deb caches once (not measured): ib's bench cache, and mkosi's on its first run here.
./ib --cache-dir "$CACHE" -q build recipes/debian-minimal.yaml >/dev/null
if [ ! -e "$MKCACHE/.warm" ]; then
  echo "bench: warming mkosi's package cache (not measured)" >&2
  sh -c "$MK -ff build" >"$WORK/mkosi-warm.log" 2>&1 || { tail -30 "$WORK/mkosi-warm.log" >&2; exit 1; }
  touch "$MKCACHE/.warm"
fi

IB="./ib --cache-dir $WORK/ib -q build recipes/debian-minimal.yaml && ./ib --cache-dir $WORK/ib -q disk debian-minimal:latest -o $WORK/ib.qcow2"
fresh() {
  case $1 in ib-cold) rm -rf "$WORK/ib" && mkdir -p "$WORK/ib/apt" && ln -s "$CACHE/apt/archives" "$WORK/ib/apt/archives" ;; esac
}
PREP=fresh
alternate ib-cold "$IB" mkosi-cold "$MK -ff build"
report "recipe → bootable qcow2, cold (warm .debs)" ib-cold mkosi-cold "mkosi 14"
PREP=
alternate ib-incr "$IB" mkosi-incr "$MK -f build"
report "recipe → bootable qcow2, incremental (nothing changed)" ib-incr mkosi-incr "mkosi 14"
ls -lR "$WORK/ib.qcow2" "$WORK/mkosi/out/" >&2
